"""End-to-end CLI for sequence labelling: train -> evaluate -> predict a tagger; train an LD-Net tagger on
two LM archives -> lmlab prune -> the smaller archive evaluates and predicts like any other."""
import json
from pathlib import Path

import pytest
import torch

from lmlab.commands.testing import run_lmlab
from lmlab.common.archive_format import extracted_archive, read_weights
from lmlab.models.testing import write_language_model_archive

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "fixtures" / "configs"
DATA = ROOT / "fixtures" / "data" / "conll"
ENV = {"LMLAB_FIXTURES": str(ROOT / "fixtures")}


@pytest.fixture(scope="module", autouse=True)
def one_intra_op_thread():
    """Tiny models: a second intra-op thread only adds OpenMP spin-waiting, which makes training many times
    slower when the machine's cores are shared (in-process runs use this process's setting)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def error_lines(stderr: str):
    return [line for line in stderr.splitlines() if line.startswith("lmlab:")]


@pytest.fixture(scope="module")
def tagger(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("tagger") / "run"
    result = run_lmlab(["train", CONFIGS / "crf_tagger_tiny.jsonnet", "-s", run], env=ENV)
    assert result.returncode == 0, result.stderr
    return run


@pytest.fixture(scope="module")
def ldnet(tmp_path_factory):
    """(the LD-Net tagger's run folder, its environment): a tagger on two untrained LD-Net LM archives."""
    root = tmp_path_factory.mktemp("ldnet")
    words = {line.split()[0] for line in (DATA / "train.txt").read_text().splitlines() if line}
    env = {**ENV, "FORWARD_LM": str(write_language_model_archive(root / "f.tar.gz", sorted(words), seed=1)),
           "BACKWARD_LM": str(write_language_model_archive(root / "b.tar.gz", sorted(words), reverse=True, seed=2))}
    result = run_lmlab(["train", CONFIGS / "crf_tagger_ldnet_tiny.jsonnet", "-s", root / "run",
                        "-o", '{"trainer.num_epochs": 2}'], env=env)
    assert result.returncode == 0, result.stderr
    return root / "run", env


def test_train_evaluate_predict(tagger, tmp_path):
    metrics = json.loads((tagger / "metrics.json").read_text())
    assert {"best_validation_f1-measure-overall", "test_f1-measure-overall", "test_accuracy"} <= set(metrics)
    result = run_lmlab(["evaluate", tagger / "model.tar.gz", DATA / "valid.txt"])
    assert result.returncode == 0, result.stderr
    evaluated = json.loads(result.stdout)
    assert evaluated["f1-measure-overall"] == pytest.approx(metrics["best_validation_f1-measure-overall"])
    source = tmp_path / "in.jsonl"
    source.write_text('{"sentence": "sam walks the dog to the park ."}\n{"tokens": ["it", "will", "snow"]}\n'
                      '{"sentence": ""}\n{"words": ["a"]}\n')
    result = run_lmlab(["predict", tagger / "model.tar.gz", source, "--batch-size", "3"])
    assert result.returncode == 0, result.stderr
    outputs = [json.loads(line) for line in result.stdout.splitlines()]
    assert outputs[0]["tokens"] == "sam walks the dog to the park .".split() and len(outputs[0]["tags"]) == 8
    assert outputs[1]["tokens"] == ["it", "will", "snow"] and all("label" in span for span in outputs[1]["spans"])
    assert outputs[2] == {"error": f'input error at {source}:3: empty "sentence"'}
    assert outputs[3]["error"].startswith(f'input error at {source}:4: unknown field "words"')
    assert "2 of 4 input lines had errors" in result.stderr


def test_prune_keeps_the_gated_predictions_and_writes_a_smaller_archive(ldnet, tmp_path):
    run, env = ldnet
    overrides = (CONFIGS / "crf_tagger_prune_tiny.jsonnet").read_text()
    pruned = tmp_path / "pruned"
    result = run_lmlab(["prune", run / "model.tar.gz", "-s", pruned, "-o", overrides], env=env)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((pruned / "metrics.json").read_text())
    kept = metrics["kept_layers"][0]
    assert sum(len(layers) for layers in kept) <= 2  # the budget
    for key in ("f1-measure-overall", "accuracy", "loss"):
        assert metrics[f"pruned_validation_{key}"] == pytest.approx(metrics[f"gated_validation_{key}"], abs=1e-6)
    config = json.loads((pruned / "config.json").read_text())
    assert config["trainer"]["validation_metric"] == "+f1-measure-within-budget"
    assert {"type": "clip_gates"} in config["trainer"]["callbacks"]
    assert f"kept layers {metrics['kept_layers']}" in result.stdout

    evaluated = json.loads(run_lmlab(["evaluate", pruned / "model.tar.gz", DATA / "valid.txt"], env=env).stdout)
    assert evaluated["f1-measure-overall"] == pytest.approx(metrics["pruned_validation_f1-measure-overall"])
    sizes = []
    for archive in (run / "model.tar.gz", pruned / "model.tar.gz"):
        with extracted_archive(archive) as root:
            sizes.append(sum(w.numel() for w in read_weights(root, archive).values() if isinstance(w, torch.Tensor)))
    assert sizes[1] < sizes[0]
    source = tmp_path / "in.jsonl"
    source.write_text('{"sentence": "anna gives the cat a bone ."}\n')
    outputs = json.loads(run_lmlab(["predict", pruned / "model.tar.gz", source], env=env).stdout)
    assert outputs["tokens"][0] == "anna" and len(outputs["tags"]) == 7


def snapshot(directory: Path):
    return {str(path.relative_to(directory)): path.read_bytes() for path in directory.rglob("*") if path.is_file()}


def test_a_failed_prune_with_force_leaves_the_previous_run_byte_identical_and_no_staging_folder(ldnet, tmp_path):
    run, env = ldnet
    previous = tmp_path / "p"
    previous.mkdir()
    (previous / "model.tar.gz").write_bytes(b"the previous run")
    (previous / "metrics.json").write_text("{}")
    before = snapshot(previous)
    # a strength of 0 leaves every gate open: all 6 layers stay, over the budget of 2 (found after training)
    never = '{"model.layer_selection": {"budget": 2, "strength": 0.0}, "trainer.num_epochs": 1}'
    mistyped = '{"model.layer_selection": {"budget": 2}, "trainer.num_epoch": 1}'  # found by the check
    for overrides, message in (
            (never, "lmlab: config error at model.layer_selection.budget: no validated checkpoint used at most 2 "
                    "layers (the kept one uses 6); train longer (trainer.num_epochs) or raise "
                    "model.layer_selection.strength. Nothing was written"),
            (mistyped, 'lmlab: config error at trainer.num_epoch: unknown key for "gradient_descent"; did you mean '
                       '"num_epochs"?')):
        result = run_lmlab(["prune", run / "model.tar.gz", "-s", previous, "-o", overrides, "--force"], env=env)
        assert result.returncode == 2, result.stderr
        assert error_lines(result.stderr) == [message]
        assert snapshot(previous) == before
        assert sorted(path.name for path in tmp_path.iterdir()) == ["p"]  # no staging folder beside it


def test_prune_refuses_a_schedule_that_reads_the_within_budget_metric(ldnet, tmp_path):
    run, env = ldnet
    overrides = ('{"model.layer_selection": {"budget": 2}, "trainer.patience": 2, '
                 '"trainer.learning_rate_scheduler": {"type": "reduce_on_plateau"}}')
    result = run_lmlab(["prune", run / "model.tar.gz", "-s", tmp_path / "p", "-o", overrides], env=env)
    assert result.returncode == 2
    why = "reads the validation f1-measure-within-budget, which is 0 until the budget is met"
    assert error_lines(result.stderr) == [
        f"lmlab: config error at trainer.patience: early stopping {why}, so it would stop before the gates close; "
        "set it to null",
        f'lmlab: config error at trainer.learning_rate_scheduler: "reduce_on_plateau" {why}, so it would lower the '
        'learning rate before the gates close; use a schedule by epoch (e.g. "inverse_time") or null']
    assert not (tmp_path / "p").exists()


def test_prune_errors_are_one_located_line(ldnet, tagger, tmp_path):
    run, env = ldnet
    result = run_lmlab(["prune", run / "model.tar.gz", "-s", tmp_path / "a"], env=env)
    assert result.returncode == 2
    assert error_lines(result.stderr) == [
        'lmlab: config error at model.layer_selection: set it with --overrides, e.g. '
        '\'{"model.layer_selection": {"budget": 2}}\'']
    result = run_lmlab(["prune", tagger / "model.tar.gz", "-s", tmp_path / "b", "-o",
                        '{"model.layer_selection": {"budget": 2}}'])
    assert result.returncode == 2
    assert error_lines(result.stderr) == [
        'lmlab: config error at model.layer_selection: needs a "language_model_token_embedder" in '
        "text_field_embedder"]
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
