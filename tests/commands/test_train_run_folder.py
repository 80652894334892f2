"""`lmlab train`: the config is checked before any work, the run is prepared beside its folder and moved in
only when ready, and a run that fails before its first checkpoint leaves nothing behind."""
import json
import os
from pathlib import Path
from typing import Dict

from lmlab.commands.testing import run_lmlab

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "fixtures" / "configs" / "lm_tiny.jsonnet"
ENV = {"LMLAB_FIXTURES": str(ROOT / "fixtures")}
ONE_EPOCH = {"trainer.num_epochs": 1, "dataset_reader.max_instances": 40}  # 2 batches: seconds per run


def error_lines(stderr: str):
    return [line for line in stderr.splitlines() if line.startswith("lmlab:")]


def train(run: Path, overrides: Dict, *flags: str):
    return run_lmlab(["train", CONFIG, "-s", run, "-o", json.dumps({**ONE_EPOCH, **overrides}), *flags], env=ENV)


def snapshot(directory: Path) -> Dict[str, bytes]:
    return {str(path.relative_to(directory)): path.read_bytes() for path in directory.rglob("*") if path.is_file()}


def test_a_missing_data_file_is_an_input_error_naming_the_file_and_leaves_no_folder(tmp_path):
    missing = tmp_path / "nope.txt"
    result = train(tmp_path / "run", {"train_data_path": str(missing)})
    assert result.returncode == 1
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith(f"lmlab: input error at {missing}: "), lines
    assert list(tmp_path.iterdir()) == []


def test_force_replaces_an_existing_run_only_once_the_new_run_is_ready(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    (run / "model.tar.gz").write_bytes(b"the previous run")
    before = snapshot(run)
    for overrides, code in (({"trainer.num_epochs": "two"}, 2),  # found by the check
                            ({"train_data_path": str(tmp_path / "nope.txt")}, 1),  # found reading data
                            ({"model.contextualizer.input_size": 8}, 2)):  # found building the model (16 != 8)
        result = train(run, overrides, "--force")
        assert result.returncode == code, result.stderr
        assert snapshot(run) == before
        assert os.listdir(tmp_path) == ["run"]  # and no staging folder is left beside it
    result = train(run, {}, "--force")
    assert result.returncode == 0, result.stderr
    assert (run / "model.tar.gz").read_bytes() != b"the previous run"
    assert (run / "checkpoints" / "checkpoint_epoch_1_batch_0.th").is_file()
    assert os.listdir(tmp_path) == ["run"]
    # the config the run wrote is the one `lmlab check` prints
    checked = run_lmlab(["check", CONFIG, "-o", json.dumps(ONE_EPOCH)], env=ENV)
    assert json.loads(checked.stdout) == json.loads((run / "config.json").read_text())


def test_a_run_failing_before_its_first_checkpoint_leaves_no_folder_so_a_retry_just_works(tmp_path):
    run = tmp_path / "run"
    failing = {"trainer.validation_metric": "-accuracy"}  # found only at the end of an epoch
    result = train(run, failing)
    assert result.returncode == 2 and 'validation metric "accuracy" is not among the metrics' in result.stderr
    assert list(tmp_path.iterdir()) == []
    # from the first checkpoint on, a failed run stays, to be recovered
    result = train(run, {**failing, "trainer.checkpoint_every_n_batches": 1})
    assert result.returncode == 2
    assert os.listdir(run / "checkpoints") and (run / "config.json").is_file()
    retry = train(tmp_path / "retry", {})
    assert retry.returncode == 0, retry.stderr
    assert sorted(os.listdir(tmp_path)) == ["retry", "run"]


BROKEN = '''
from lmlab.modules.seq2seq_encoders import Seq2SeqEncoder


@Seq2SeqEncoder.register("broken_for_test")
class Broken(Seq2SeqEncoder):
    """Stands for a bug in a component: its constructor raises a ValueError.

    Inputs: -. Outputs: -.
    """

    def __init__(self, input_size: int) -> None:
        super().__init__()
        raise ValueError("an unexpected failure")
'''


def test_an_exception_from_a_constructor_is_an_internal_error_not_a_config_error(tmp_path):
    (tmp_path / "plugin").mkdir()
    (tmp_path / "plugin" / "broken_plugin.py").write_text(BROKEN)
    env = {**ENV, "PYTHONPATH": f"{tmp_path / 'plugin'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    overrides = {"model.contextualizer": {"type": "broken_for_test", "input_size": 16}}
    result = run_lmlab(["train", CONFIG, "-s", tmp_path / "run", "-o", json.dumps({**ONE_EPOCH, **overrides}),
                        "--include-package", "broken_plugin"], env=env)
    assert result.returncode == 1
    assert error_lines(result.stderr) == \
        ["lmlab: ValueError: an unexpected failure (internal error; rerun with --debug)"]
    assert os.listdir(tmp_path) == ["plugin"]
