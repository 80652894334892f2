"""`trainer.validate_every_n_batches`: validations inside epochs drive the best checkpoint, patience and a
plateau schedule; a run SIGKILLed between two of them recovers bit-identically; the archive holds the
weights of the best validation."""
import io
import json
import os
import signal
import tarfile
from pathlib import Path

import pytest
import torch

from lmlab.commands.testing import run_lmlab
from lmlab.common import ConfigurationError, Params
from lmlab.training.experiment import train_model

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "fixtures" / "configs" / "lm_tiny.jsonnet")  # 300 lines: 10 batches of 32, 19 of 16
PLATEAU = {"type": "reduce_on_plateau", "factor": 0.5, "patience": 0}


def _train(tmp_path, monkeypatch, overrides, name="run"):
    monkeypatch.chdir(ROOT)
    params = Params.from_file(CONFIG, overrides=json.dumps({"trainer.progress_bar": False, **overrides}))
    return train_model(params, str(tmp_path / name))


def _checkpoint(run: Path, epoch: int, batch: int):
    return torch.load(run / "checkpoints" / f"checkpoint_epoch_{epoch}_batch_{batch}.th", weights_only=True)


def _archived_weights(run: Path):
    with tarfile.open(run / "model.tar.gz") as tar:
        return torch.load(io.BytesIO(tar.extractfile("weights.th").read()), weights_only=True)


def _assert_same_parameters(a, b, names):
    for name in names:
        assert torch.equal(a[name], b[name]), name


def test_validations_every_n_batches_drive_best_weights_patience_and_a_plateau_schedule(tmp_path, monkeypatch):
    # maximising the loss, the first validation (after 3 batches) is the best: the ones after 6 and 9 batches
    # each halve the rate (plateau patience 0), and the second of them ends the run (patience 2) mid-epoch
    model = _train(tmp_path, monkeypatch, {
        "trainer.num_epochs": 3, "trainer.validate_every_n_batches": 3, "trainer.patience": 2,
        "trainer.validation_metric": "+loss", "trainer.learning_rate_scheduler": PLATEAU,
        "trainer.checkpoint_every_n_batches": 3, "trainer.num_checkpoints_to_keep": 100})
    run = tmp_path / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    assert (metrics["epoch"], metrics["batch"], metrics["best_epoch"], metrics["best_batch"]) == (0, 9, 0, 3)
    assert metrics["validation_loss"] < metrics["best_validation_loss"]
    assert json.loads((run / "metrics_epoch_0.json").read_text()) == metrics
    assert not (run / "metrics_epoch_1.json").exists()
    checkpoints = sorted(p.name for p in (run / "checkpoints").iterdir())
    # stopped at the validation after batch 9, before the checkpoint there; the epoch's end checkpoint follows
    assert checkpoints == ["checkpoint_epoch_0_batch_3.th", "checkpoint_epoch_0_batch_6.th",
                           "checkpoint_epoch_1_batch_0.th"]
    rates = [_checkpoint(run, *at)["optimizer"]["param_groups"][0]["lr"] for at in ((0, 3), (0, 6), (1, 0))]
    assert rates == pytest.approx([0.01, 0.005, 0.0025])
    assert _checkpoint(run, 1, 0)["trainer"]["epochs_without_improvement"] == 2
    # best.th, the returned model and the archive: the weights after batch 3, not the last ones
    names = [name for name, _ in model.named_parameters()]
    at_best = _checkpoint(run, 0, 3)["model"]
    _assert_same_parameters(torch.load(run / "best.th", weights_only=True), at_best, names)
    _assert_same_parameters(model.state_dict(), at_best, names)
    _assert_same_parameters(_archived_weights(run), at_best, names)
    assert any(not torch.equal(_checkpoint(run, 1, 0)["model"][n], at_best[n]) for n in names)


@pytest.mark.parametrize("every, validations", [(3, 4), (5, 2)])
def test_every_epoch_ends_with_one_validation(tmp_path, monkeypatch, every, validations):
    # 10 batches: after 3, 6, 9 and the epoch's end (10); or after 5 and 10, the end not validated twice
    _train(tmp_path, monkeypatch, {"trainer.num_epochs": 1, "trainer.validate_every_n_batches": every,
                                   "trainer.learning_rate_scheduler": PLATEAU})
    plateau = _checkpoint(tmp_path / "run", 1, 0)["scheduler"]
    assert plateau["last_epoch"] == validations  # ReduceLROnPlateau counts its steps


def test_validating_inside_epochs_leaves_training_as_it_was(tmp_path, monkeypatch):
    # no schedule or patience reads the validations: the weights, carried states and the epochs' training
    # metrics are those of a run validated once an epoch
    common = {"trainer.num_epochs": 2, "model.carry_hidden_state": True, "data_loader.shuffle": False,
              "trainer.checkpoint_every_n_batches": 4, "trainer.num_checkpoints_to_keep": 100}
    _train(tmp_path, monkeypatch, common, "per_epoch")
    _train(tmp_path, monkeypatch, {**common, "trainer.validate_every_n_batches": 3}, "every_3")
    # after batch 8 of the second epoch (validated after 3 and 6 in the second run)
    a, b = _checkpoint(tmp_path / "per_epoch", 1, 8), _checkpoint(tmp_path / "every_3", 1, 8)
    assert a["model_buffers"][0]["_contextualizer._extra_state"].numel() > 0  # a carried state
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for key in a["model_buffers"][0]:
        assert torch.equal(a["model_buffers"][0][key], b["model_buffers"][0][key]), key
    for epoch in (0, 1):
        metrics_a, metrics_b = (json.loads((tmp_path / run / f"metrics_epoch_{epoch}.json").read_text())
                                for run in ("per_epoch", "every_3"))
        for key in ("training_loss", "training_perplexity", "validation_loss"):
            assert metrics_a[key] == metrics_b[key], (epoch, key)


def test_validate_every_n_batches_needs_validation_data_and_whole_steps(tmp_path, monkeypatch):
    with pytest.raises(ConfigurationError, match="at trainer.validate_every_n_batches: needs validation data"):
        _train(tmp_path, monkeypatch, {"validation_data_path": None, "trainer.validate_every_n_batches": 2})
    with pytest.raises(ConfigurationError, match="at trainer.validate_every_n_batches: must be a multiple of "
                                                 "num_gradient_accumulation_steps \\(2\\), found 3"):
        _train(tmp_path, monkeypatch, {"trainer.validate_every_n_batches": 3,
                                       "trainer.num_gradient_accumulation_steps": 2})


KILLER = '''
import os, signal
from lmlab.training.callbacks import TrainerCallback


@TrainerCallback.register("kill_after_steps")
class KillAfterSteps(TrainerCallback):
    """Kills its own process with SIGKILL after $LMLAB_KILL_AFTER optimizer steps, when that is set.

    Inputs: -. Outputs: -.
    """

    def on_batch(self, trainer, batch_outputs, epoch, step):
        limit = os.environ.get("LMLAB_KILL_AFTER")
        if limit and step >= int(limit):
            os.kill(os.getpid(), signal.SIGKILL)
'''


def test_a_run_killed_between_two_validations_recovers_bit_identically(tmp_path):
    (tmp_path / "killer_plugin.py").write_text(KILLER)
    env = {"LMLAB_FIXTURES": str(ROOT / "fixtures"),
           "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    # 19 batches an epoch, validated after 4, 8, 12, 16 and 19; checkpoints every 3 batches
    overrides = json.dumps({"trainer": {"num_epochs": 2, "validate_every_n_batches": 4, "patience": 20,
                                        "learning_rate_scheduler": PLATEAU, "checkpoint_every_n_batches": 3,
                                        "callbacks": [{"type": "kill_after_steps"}]},
                            "model": {"carry_hidden_state": True}, "data_loader": {"batch_size": 16}})
    args = [CONFIG, "-o", overrides, "--include-package", "killer_plugin"]
    straight = run_lmlab(["train", *args, "-s", tmp_path / "straight"], env=env)
    assert straight.returncode == 0, straight.stderr
    # step 26 is batch 7 of epoch 1: after the validation at batch 4 and the checkpoint at batch 6, before the
    # validation at batch 8
    killed = run_lmlab(["train", *args, "-s", tmp_path / "killed"], env={**env, "LMLAB_KILL_AFTER": "26"})
    assert killed.returncode == -signal.SIGKILL
    assert (tmp_path / "killed" / "checkpoints" / "checkpoint_epoch_1_batch_6.th").is_file()
    assert not (tmp_path / "killed" / "model.tar.gz").exists()
    recovered = run_lmlab(["train", *args, "-s", tmp_path / "killed", "--recover"], env=env)
    assert recovered.returncode == 0, recovered.stderr
    a, b = _checkpoint(tmp_path / "straight", 2, 0), _checkpoint(tmp_path / "killed", 2, 0)
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert a["scheduler"] == b["scheduler"] and a["scheduler"]["last_epoch"] == 10  # 5 validations an epoch
    assert a["trainer"]["best_score"] == b["trainer"]["best_score"]
    best = torch.load(tmp_path / "straight" / "best.th", weights_only=True)
    for weights in (torch.load(tmp_path / "killed" / "best.th", weights_only=True),
                    _archived_weights(tmp_path / "straight"), _archived_weights(tmp_path / "killed")):
        _assert_same_parameters(weights, best, [key for key in best if "extra_state" not in key])
    metrics_a = json.loads((tmp_path / "straight" / "metrics.json").read_text())
    metrics_b = json.loads((tmp_path / "killed" / "metrics.json").read_text())
    for key in ("validation_perplexity", "best_validation_perplexity", "best_epoch", "best_batch"):
        assert metrics_a[key] == metrics_b[key], key
    assert metrics_a["training_loss"] == pytest.approx(metrics_b["training_loss"], rel=1e-9)
