"""Forward and backward LD-Net LMs (ld_rnn, projection, adaptive softmax): train -> evaluate -> predict."""
import json
import math
from pathlib import Path

import pytest
import torch

from lmlab.commands.testing import run_lmlab

ROOT = Path(__file__).resolve().parents[2]
VALID = ROOT / "fixtures" / "data" / "tiny_lm" / "valid.txt"
ENV = {"LMLAB_FIXTURES": str(ROOT / "fixtures")}


@pytest.fixture(autouse=True)
def one_intra_op_thread():
    """Tiny tensors: a second intra-op thread only adds OpenMP spin-waiting, ten times slower on a busy
    machine. The in-process CLI runs inherit this setting."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.mark.parametrize("config", ["ldnet_lm_tiny.jsonnet", "ldnet_lm_tiny_backward.jsonnet"])
def test_ldnet_lm_train_evaluate_predict(config, tmp_path):
    run = tmp_path / "run"
    trained = run_lmlab(["train", ROOT / "fixtures" / "configs" / config, "-s", run], env=ENV)
    assert trained.returncode == 0, trained.stderr
    filled = json.loads((run / "config.json").read_text())
    assert filled["model"]["contextualizer"]["type"] == "ld_rnn"
    assert filled["model"]["softmax_loss"]["type"] == "adaptive_softmax"
    assert filled["dataset_reader"]["reverse"] == config.endswith("backward.jsonnet")
    assert (run / "vocabulary" / "frequency_sorted_namespaces.txt").read_text() == "tokens\n"
    metrics = json.loads((run / "metrics.json").read_text())
    assert 1 < metrics["best_validation_perplexity"] < 60  # a uniform guess over ~240 words would be ~240
    assert metrics["validation_perplexity"] < metrics["training_perplexity"] * 2

    # evaluate rebuilds the model from the archive (the vocabulary must still be recorded as sorted) and
    # reproduces the exact validation perplexity, computed with the same reader (reversed or not)
    evaluated = run_lmlab(["evaluate", run / "model.tar.gz", VALID])
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["perplexity"] == pytest.approx(metrics["best_validation_perplexity"],
                                                                       rel=1e-9)

    predicted = run_lmlab(["predict", run / "model.tar.gz", "-"],
                          stdin='{"sentence": "the cat sat on the mat .", "generate": {"max_tokens": 4, "seed": 1}}\n')
    assert predicted.returncode == 0, predicted.stderr
    output = json.loads(predicted.stdout)
    # the reader's framing: "... . <eos>" forward; "<eos> . mat ... the" backward (next tokens come before)
    assert output["log_probability"] < 0 and output["scored_tokens"] == 7
    assert output["perplexity"] == pytest.approx(math.exp(-output["log_probability"] / 7), rel=1e-6)
    probabilities = [candidate["probability"] for candidate in output["next_tokens"]]
    assert len(probabilities) == 5 and probabilities == sorted(probabilities, reverse=True)
    assert len(output["generated"]["tokens"]) <= 4
