"""End-to-end CLI: train -> evaluate -> predict on the tiny fixture corpus, and the ways it can fail."""
import io
import json
import math
import os
import signal
import tarfile
from pathlib import Path

import pytest
import torch

from lmlab.commands.testing import run_lmlab

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "fixtures" / "configs" / "lm_tiny.jsonnet"
VALID = ROOT / "fixtures" / "data" / "tiny_lm" / "valid.txt"
ENV = {"LMLAB_FIXTURES": str(ROOT / "fixtures")}


def error_lines(stderr: str):
    """The lines lmlab prints for an error (INFO log lines from the run before it are left out)."""
    return [line for line in stderr.splitlines() if line.startswith("lmlab:")]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("e2e") / "run"
    result = run_lmlab(["train", CONFIG, "-s", run], env=ENV)
    assert result.returncode == 0, result.stderr
    return run


def test_train_writes_a_complete_run(trained):
    for name in ("model.tar.gz", "config.json", "metrics.json", "metrics_epoch_0.json", "metrics_epoch_1.json",
                 "best.th", "vocabulary/tokens.txt"):
        assert (trained / name).exists(), name
    config = json.loads((trained / "config.json").read_text())
    # the filled config makes every default explicit
    assert config["model"]["contextualizer"]["num_layers"] == 1
    assert config["trainer"]["patience"] is None and config["data_loader"]["num_workers"] is None  # the default
    # metrics.json is the last epoch's (2 epochs, counted from 0), with the best epoch's validation figures
    metrics = json.loads((trained / "metrics.json").read_text())
    epochs = [json.loads((trained / f"metrics_epoch_{epoch}.json").read_text()) for epoch in (0, 1)]
    assert metrics["epoch"] == 1
    for key in ("training_loss", "training_perplexity", "validation_loss", "validation_perplexity"):
        assert metrics[key] == epochs[1][key], key
    for split in ("training", "validation"):
        assert metrics[f"{split}_perplexity"] == pytest.approx(math.exp(metrics[f"{split}_loss"]), rel=1e-6)
    best = min((0, 1), key=lambda epoch: epochs[epoch]["validation_perplexity"])
    assert metrics["best_epoch"] == best
    assert metrics["best_validation_perplexity"] == epochs[best]["validation_perplexity"]
    # it learned: validation perplexity falls each epoch, far below a uniform guess over the vocabulary
    vocabulary_size = len((trained / "vocabulary" / "tokens.txt").read_text().splitlines())
    assert epochs[1]["validation_perplexity"] < epochs[0]["validation_perplexity"] < vocabulary_size / 2
    with tarfile.open(trained / "model.tar.gz") as tar:
        assert {"config.json", "weights.th", "meta.json", "vocabulary"} <= set(tar.getnames())
        meta = json.loads(tar.extractfile("meta.json").read())
    assert meta["lmlab_version"] and meta["plugins"] == []


def test_evaluate_reproduces_the_best_validation_perplexity(trained, tmp_path):
    out = tmp_path / "metrics.json"
    result = run_lmlab(["evaluate", trained / "model.tar.gz", VALID, "--output-file", out])
    assert result.returncode == 0, result.stderr
    metrics = json.loads(out.read_text())
    best = json.loads((trained / "metrics.json").read_text())["best_validation_perplexity"]
    assert metrics["perplexity"] == pytest.approx(best, rel=1e-9)
    assert metrics["loss"] == pytest.approx(json.loads(result.stdout)["loss"])
    # batch size does not change a perplexity
    other = run_lmlab(["evaluate", trained / "model.tar.gz", VALID, "--batch-size", "3"])
    assert json.loads(other.stdout)["perplexity"] == pytest.approx(best, rel=1e-6)


def test_predict_one_output_line_per_input_line_with_per_line_errors(trained, tmp_path):
    lines = [b'{"sentence": "the cat sat on the mat ."}',
             b'{"sentence": "the dog", "generate": {"max_tokens": 5, "seed": 3}, "top_k": 3}',
             b'',
             b'{"sentence": "   "}',
             b'\xff\xfe not utf-8',
             b'{"sentence": "the", "topk": 2}',
             b'{"sentence": "the", "generate": {"max_tokens": 600}}',
             b'not json',
             b'{"sentence": "the dog", "generate": {"max_tokens": 5, "seed": 3}, "top_k": 3}',
             b'{"sentence": "' + b"the cat " * 30 + b'", "next_token": false}']
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out.jsonl"
    result = run_lmlab(["predict", trained / "model.tar.gz", source, "--output-file", out, "--batch-size", "2",
                        "--silent"])
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    outputs = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(outputs) == len(lines)
    first = outputs[0]
    assert first["tokens"] == ["the", "cat", "sat", "on", "the", "mat", "."]
    assert first["scored_tokens"] == 8  # 7 words + </s>, each predicted from what precedes it
    assert first["perplexity"] == pytest.approx(2.718281828 ** (-first["log_probability"] / 8), rel=1e-6)
    assert len(first["next_tokens"]) == 5
    probabilities = [t["probability"] for t in first["next_tokens"]]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) < 1
    assert len(outputs[1]["next_tokens"]) == 3 and 1 <= len(outputs[1]["generated"]["tokens"]) <= 5
    # a seeded generation is reproducible whatever the batch; scores agree to float32 rounding
    assert outputs[8]["generated"] == outputs[1]["generated"]
    assert outputs[8]["log_probability"] == pytest.approx(outputs[1]["log_probability"], rel=1e-6)
    name = str(source)
    assert outputs[2] == {"error": f"input error at {name}:3: empty line"}
    assert outputs[3] == {"error": f'input error at {name}:4: empty "sentence"'}
    assert outputs[4]["error"].startswith(f"input error at {name}:5: not UTF-8")
    assert outputs[5] == {"error": f'input error at {name}:6: unknown field "topk"; did you mean "top_k"?'}
    assert outputs[6] == {"error": f"input error at {name}:7: input too long: 3 tokens (+600 to generate) > "
                                   "max_tokens 512"}
    assert outputs[7]["error"].startswith(f"input error at {name}:8: invalid JSON")
    # a sentence longer than the reader's max_sequence_length (40, with <s> and </s>) is cut as in training
    assert outputs[9]["tokens"] == ["the", "cat"] * 19 and outputs[9]["scored_tokens"] == 39
    assert "6 of 10 input lines had errors" in result.stderr


def test_predict_scores_agree_with_evaluate(trained, tmp_path):
    """The summed sentence log-probabilities of predict give evaluate's perplexity on the same text."""
    sentences = VALID.read_text().splitlines()[:10]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"sentence": s, "next_token": False}) + "\n" for s in sentences))
    result = run_lmlab(["predict", trained / "model.tar.gz", source, "--batch-size", "4"])
    outputs = [json.loads(line) for line in result.stdout.splitlines()]
    total = sum(o["log_probability"] for o in outputs)
    count = sum(o["scored_tokens"] for o in outputs)
    data = tmp_path / "ten.txt"
    data.write_text("\n".join(sentences) + "\n")
    metrics = json.loads(run_lmlab(["evaluate", trained / "model.tar.gz", data]).stdout)
    assert 2.718281828459045 ** (-total / count) == pytest.approx(metrics["perplexity"], rel=1e-5)


def test_empty_prediction_input_is_an_error_and_writes_nothing(trained, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    out = tmp_path / "out.jsonl"
    result = run_lmlab(["predict", trained / "model.tar.gz", empty, "--output-file", out])
    assert result.returncode == 1
    assert result.stderr.strip() == f"lmlab: input error at {empty}: no input lines"
    assert not out.exists()
    missing = run_lmlab(["predict", trained / "model.tar.gz", tmp_path / "nope.jsonl"])
    assert missing.returncode == 1 and "cannot read prediction input" in missing.stderr


def test_corrupt_and_truncated_archives(trained, tmp_path):
    data = (trained / "model.tar.gz").read_bytes()
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"this is not an archive")
    for path in (truncated, garbage):
        result = run_lmlab(["evaluate", path, VALID])
        assert result.returncode == 1
        assert error_lines(result.stderr) == [line for line in result.stderr.splitlines() if line]
        assert result.stderr.startswith(f"lmlab: archive error: cannot read archive {path}")
        assert len(error_lines(result.stderr)) == 1


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/lmlab_pwned",))


def test_malicious_pickle_in_weights_is_refused(trained, tmp_path):
    marker = Path("/tmp/lmlab_pwned")
    marker.unlink(missing_ok=True)
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(trained / "model.tar.gz") as source, tarfile.open(evil, "w:gz") as target:
        for member in source.getmembers():
            if member.name == "weights.th":
                buffer = io.BytesIO()
                torch.save({"payload": _Evil()}, buffer)
                member.size = len(buffer.getvalue())
                target.addfile(member, io.BytesIO(buffer.getvalue()))
            else:
                target.addfile(member, source.extractfile(member) if member.isfile() else None)
    result = run_lmlab(["evaluate", evil, VALID])
    assert result.returncode == 1
    assert result.stderr.startswith(f"lmlab: archive error: refusing to load weights.th from {evil}")
    assert not marker.exists()


def test_bad_config_errors_are_one_located_line(tmp_path):
    typo = run_lmlab(["train", CONFIG, "-s", tmp_path / "a", "-o", '{"model.contextualizer.hiden_size": 8}'],
                     env=ENV)
    assert typo.returncode == 2
    assert error_lines(typo.stderr) == ['lmlab: config error at model.contextualizer.hiden_size: unknown key for '
                                        '"lstm"; did you mean "hidden_size"?']
    wrong_type = run_lmlab(["train", CONFIG, "-s", tmp_path / "b", "-o", '{"trainer.num_epochs": "two"}'], env=ENV)
    assert wrong_type.returncode == 2
    assert error_lines(wrong_type.stderr) == \
        ['lmlab: config error at trainer.num_epochs: expected int, found str "two"']
    top = run_lmlab(["train", CONFIG, "-s", tmp_path / "c", "-o", '{"train_data_pth": "x"}'], env=ENV)
    assert error_lines(top.stderr) == ['lmlab: config error at train_data_pth: unknown key for the config; '
                                       'did you mean "train_data_path"?']
    missing = run_lmlab(["train", CONFIG, "-s", tmp_path / "d", "-o", '{"train_data_path": "no/such/file.txt"}'],
                        env=ENV)
    assert missing.returncode == 1 and len(error_lines(missing.stderr)) == 1
    assert "no/such/file.txt" in error_lines(missing.stderr)[0]
    debug = run_lmlab(["train", CONFIG, "-s", tmp_path / "e", "-o", '{"trainer.num_epochs": "two"}', "--debug"],
                      env=ENV, isolated=True)
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_refuses_to_overwrite_a_run_without_force(trained, tmp_path):
    result = run_lmlab(["train", CONFIG, "-s", trained], env=ENV)
    assert result.returncode == 2 and "is not empty; use --recover" in result.stderr
    assert (trained / "model.tar.gz").exists()


KILLER = '''
import os, signal
from lmlab.training.callbacks import TrainerCallback


@TrainerCallback.register("kill_after")
class KillAfter(TrainerCallback):
    """Kills its own process with SIGKILL after N optimizer steps when $LMLAB_KILL_AFTER is set.

    Inputs: -. Outputs: -.
    """

    def on_batch(self, trainer, batch_outputs, epoch, step):
        limit = os.environ.get("LMLAB_KILL_AFTER")
        if limit and step >= int(limit):
            os.kill(os.getpid(), signal.SIGKILL)
'''


def test_recover_after_sigkill_ends_with_identical_weights(tmp_path):
    (tmp_path / "killer_plugin.py").write_text(KILLER)
    env = {**ENV, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    overrides = json.dumps({"trainer": {"num_epochs": 3, "checkpoint_every_n_batches": 3,
                                        "callbacks": [{"type": "kill_after"}]},
                            "data_loader": {"batch_size": 16}})
    args = [CONFIG, "-o", overrides, "--include-package", "killer_plugin"]
    straight = run_lmlab(["train", *args, "-s", tmp_path / "straight"], env=env)
    assert straight.returncode == 0, straight.stderr
    killed = run_lmlab(["train", *args, "-s", tmp_path / "killed"], env={**env, "LMLAB_KILL_AFTER": "26"})
    assert killed.returncode == -signal.SIGKILL
    checkpoints = sorted(p.name for p in (tmp_path / "killed" / "checkpoints").iterdir())
    assert "checkpoint_epoch_1_batch_6.th" in checkpoints  # killed at batch 7 of epoch 1 (19 batches per epoch)
    assert not (tmp_path / "killed" / "model.tar.gz").exists()
    recovered = run_lmlab(["train", *args, "-s", tmp_path / "killed", "--recover"], env=env)
    assert recovered.returncode == 0, recovered.stderr
    final = "checkpoints/checkpoint_epoch_3_batch_0.th"
    a = torch.load(tmp_path / "straight" / final, weights_only=True)
    b = torch.load(tmp_path / "killed" / final, weights_only=True)
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    metrics_a = json.loads((tmp_path / "straight" / "metrics.json").read_text())
    metrics_b = json.loads((tmp_path / "killed" / "metrics.json").read_text())
    assert metrics_a["validation_perplexity"] == metrics_b["validation_perplexity"]
    assert metrics_a["training_loss"] == pytest.approx(metrics_b["training_loss"], rel=1e-9)
    # a different config cannot recover that run
    other = run_lmlab(["train", CONFIG, "-o", overrides.replace('"batch_size": 16', '"batch_size": 8'),
                       "--include-package", "killer_plugin", "-s", tmp_path / "killed", "--recover"], env=env)
    assert other.returncode == 2 and "config error at data_loader.batch_size: differs from the run" in other.stderr
