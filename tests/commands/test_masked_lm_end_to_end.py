"""End-to-end CLI for the masked LM: train mlm_tiny -> evaluate -> predict fillers, with per-line errors."""
import json
from pathlib import Path

import pytest

from lmlab.commands.testing import run_lmlab

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "fixtures" / "configs" / "mlm_tiny.jsonnet"
VALID = ROOT / "fixtures" / "data" / "tiny_lm" / "valid.txt"
# one intra-op thread: the model is tiny, and extra threads only spin when the test machine's cores are busy
ENV = {"LMLAB_FIXTURES": str(ROOT / "fixtures"), "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("mlm_e2e") / "run"
    result = run_lmlab(["train", CONFIG, "-s", run], env=ENV)
    assert result.returncode == 0, result.stderr
    return run


def test_train_then_evaluate_reproduces_the_validation_perplexity(trained, tmp_path):
    config = json.loads((trained / "config.json").read_text())
    assert config["dataset_reader"]["replace_with_mask"] == 0.8 and config["model"]["tie_embeddings"] is False
    assert "[MASK]" in (trained / "vocabulary" / "tokens.txt").read_text().splitlines()
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["best_validation_perplexity"] < 100  # 240 word types; a uniform guess scores ~240
    # the masks of a file are the same on every read, so evaluate gives exactly the best validation figure
    result = run_lmlab(["evaluate", trained / "model.tar.gz", VALID, "--batch-size", "5"], env=ENV)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["perplexity"] == pytest.approx(metrics["best_validation_perplexity"], rel=1e-6)


def test_predict_fillers_with_per_line_errors(trained, tmp_path):
    lines = ['{"sentence": "the [MASK] sat on the mat ."}',
             '{"sentence": "the cat sat on the mat ."}',
             '{"sentence": "the [MASK] sat on the [MASK] .", "top_k": 3}',
             '{"sentence": "the [MASK]", "topk": 3}',
             '{"sentence": "' + "the " * 40 + '[MASK]"}']
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    result = run_lmlab(["predict", trained / "model.tar.gz", source, "--output-file", out, "--silent"], env=ENV)
    assert result.returncode == 0, result.stderr
    outputs = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(outputs) == len(lines)
    first = outputs[0]
    assert first["tokens"] == ["the", "[MASK]", "sat", "on", "the", "mat", "."] and first["mask_positions"] == [1]
    fillers = first["fillers"][0]
    assert len(fillers) == 5
    probabilities = [f["probability"] for f in fillers]
    assert probabilities == sorted(probabilities, reverse=True) and all(0 < p < 1 for p in probabilities)
    vocabulary = set((trained / "vocabulary" / "tokens.txt").read_text().splitlines())
    assert fillers[0]["token"] in vocabulary - {"@@PADDING@@", "@@UNKNOWN@@", "[MASK]"}
    assert fillers[0]["token"].isalpha()  # after training, a word (not punctuation) fills "the ___ sat"
    assert [len(mask) for mask in outputs[2]["fillers"]] == [3, 3]
    name = str(source)
    assert outputs[1] == {"error": f'input error at {name}:2: no "[MASK]" in "sentence"'}
    assert outputs[3] == {"error": f'input error at {name}:4: unknown field "topk"; did you mean "top_k"?'}
    assert outputs[4] == {"error": f"input error at {name}:5: input too long: 41 tokens > max_tokens 40"}
    assert "3 of 5 input lines had errors" in result.stderr
