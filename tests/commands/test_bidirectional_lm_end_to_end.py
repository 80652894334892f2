"""Bidirectional LM with a sampled softmax: train -> evaluate (exact, full softmax) -> predict."""
import json
import math
from pathlib import Path

import pytest

from lmlab.commands.testing import run_lmlab

ROOT = Path(__file__).resolve().parents[2]
VALID = ROOT / "fixtures" / "data" / "tiny_lm" / "valid.txt"


def test_bidirectional_lm_train_evaluate_predict(tmp_path):
    run = tmp_path / "bilm"
    trained = run_lmlab(["train", ROOT / "fixtures" / "configs" / "bilm_tiny.jsonnet", "-s", run],
                        env={"LMLAB_FIXTURES": str(ROOT / "fixtures")})
    assert trained.returncode == 0, trained.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    for direction in ("forward", "backward"):
        assert 1 < metrics[f"validation_{direction}_perplexity"] < 300
    # validation (and evaluate) score with the full softmax: the perplexity is exact, not a sampled estimate
    assert metrics["validation_perplexity"] == pytest.approx(
        math.sqrt(metrics["validation_forward_perplexity"] * metrics["validation_backward_perplexity"]), rel=1e-6)
    evaluated = run_lmlab(["evaluate", run / "model.tar.gz", VALID])
    assert evaluated.returncode == 0, evaluated.stderr
    result = json.loads(evaluated.stdout)
    for key in ("perplexity", "forward_perplexity", "backward_perplexity"):
        assert result[key] == pytest.approx(metrics[f"best_validation_{key}"], rel=1e-9)
    predicted = run_lmlab(["predict", run / "model.tar.gz", "-"],
                          stdin='{"sentence": "the cat sat on the mat .", "generate": {"max_tokens": 4, "seed": 1}}\n')
    assert predicted.returncode == 0, predicted.stderr
    output = json.loads(predicted.stdout)
    assert output["scored_tokens"] == 8 and output["log_probability"] < 0
    assert len(output["generated"]["tokens"]) <= 4 and len(output["next_tokens"]) == 5  # may stop at </s>
