"""`lmlab check` and `lmlab train --dry-run`: every block of a config checked before any data is read."""
import json
from pathlib import Path

from lmlab.commands.testing import run_lmlab

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "fixtures" / "configs" / "lm_tiny.jsonnet"
ENV = {"LMLAB_FIXTURES": str(ROOT / "fixtures")}
NO_DATA = {"train_data_path": "no/such/train.txt", "validation_data_path": "no/such/valid.txt"}
THREE_MISTAKES = {"data_loader.batch_sise": 4, "model.contextualizer.hiden_size": 8, "trainer.num_epochs": "two"}
THREE_LINES = ['lmlab: config error at data_loader.batch_sise: unknown key for "multiprocess"; did you mean '
               '"batch_size"?',
               'lmlab: config error at model.contextualizer.hiden_size: unknown key for "lstm"; did you mean '
               '"hidden_size"?',
               'lmlab: config error at trainer.num_epochs: expected int, found str "two"']


def test_three_mistakes_in_three_blocks_are_three_located_lines_and_no_data_is_read(tmp_path):
    overrides = json.dumps({**NO_DATA, **THREE_MISTAKES})  # reading data would fail on the missing files
    for args in (["train", CONFIG, "--dry-run", "-o", overrides], ["check", CONFIG, "-o", overrides]):
        result = run_lmlab(args, env=ENV, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert result.stderr.splitlines() == THREE_LINES
        assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_train_reports_the_same_lines_before_reading_any_data_and_leaves_no_run_folder(tmp_path):
    overrides = json.dumps({**NO_DATA, **THREE_MISTAKES})
    result = run_lmlab(["train", CONFIG, "-s", tmp_path / "runs" / "new", "-o", overrides], env=ENV)
    assert result.returncode == 2
    assert [line for line in result.stderr.splitlines() if line.startswith("lmlab:")] == THREE_LINES
    assert list(tmp_path.iterdir()) == []


def test_a_valid_config_prints_with_every_default_filled_in(tmp_path):
    overrides = json.dumps(NO_DATA)
    checked = run_lmlab(["check", CONFIG, "-o", overrides], env=ENV, cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    config = json.loads(checked.stdout)
    assert config["model"]["contextualizer"] == {"type": "lstm", "input_size": 16, "hidden_size": 24,
                                                 "num_layers": 1, "bidirectional": False, "dropout": 0.0,
                                                 "stateful": False}
    assert config["trainer"]["optimizer"]["betas"] == [0.9, 0.999] and config["trainer"]["patience"] is None
    assert config["train_data_path"] == "no/such/train.txt" and config["random_seed"] == 13370
    dry_run = run_lmlab(["train", CONFIG, "--dry-run", "-o", overrides, "--cuda-device", "-1"], env=ENV, cwd=tmp_path)
    assert dry_run.returncode == 0 and json.loads(dry_run.stdout) == config
    assert list(tmp_path.iterdir()) == []


def test_train_needs_a_serialization_dir_unless_dry_run():
    result = run_lmlab(["train", CONFIG], env=ENV)
    assert result.returncode == 2 and "-s/--serialization-dir" in result.stderr


def test_out_of_range_values_are_config_errors_before_anything_is_built(tmp_path):
    overrides = json.dumps({**NO_DATA, "model.contextualizer.dropout": 1.5, "model.dropout": -0.1,
                            "model.contextualizer.hidden_size": 0})
    result = run_lmlab(["check", CONFIG, "-o", overrides], env=ENV, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        "lmlab: config error at model.contextualizer.hidden_size: expected a value in [1, inf), found 0",
        "lmlab: config error at model.contextualizer.dropout: expected a value in [0, 1), found 1.5",
        "lmlab: config error at model.dropout: expected a value in [0, 1], found -0.1"]
