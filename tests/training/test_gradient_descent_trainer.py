"""The trainer in-process on the tiny corpus: patience, metrics files, checkpoints kept, device errors."""
import json
from pathlib import Path

import pytest

from lmlab.common import ConfigurationError, Params
from lmlab.training.experiment import train_model

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "fixtures" / "configs" / "lm_tiny.jsonnet")


def _train(tmp_path, monkeypatch, overrides):
    monkeypatch.chdir(ROOT)
    params = Params.from_file(CONFIG, overrides=json.dumps({"trainer.progress_bar": False, **overrides}))
    return train_model(params, str(tmp_path / "run"))


def test_patience_stops_early_and_best_epoch_is_kept(tmp_path, monkeypatch):
    # maximising the loss: epoch 0 is the best, so with patience 1 training stops after epoch 1
    _train(tmp_path, monkeypatch, {"trainer.num_epochs": 5, "trainer.patience": 1,
                                   "trainer.validation_metric": "+loss"})
    run = tmp_path / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epoch"] == 1 and metrics["best_epoch"] == 0
    assert not (run / "metrics_epoch_2.json").exists()
    assert metrics["best_validation_loss"] == json.loads((run / "metrics_epoch_0.json").read_text())["validation_loss"]
    checkpoints = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert checkpoints == ["checkpoint_epoch_1_batch_0.th", "checkpoint_epoch_2_batch_0.th"]  # the newest 2 kept


def test_unknown_validation_metric_and_device(tmp_path, monkeypatch):
    with pytest.raises(ConfigurationError, match='validation metric "accuracy" is not among the metrics'):
        _train(tmp_path, monkeypatch, {"trainer.num_epochs": 1, "trainer.validation_metric": "-accuracy"})
    with pytest.raises(ConfigurationError, match="at trainer.validation_metric: expected \"\\+name\" or \"-name\""):
        _train(tmp_path / "b", monkeypatch, {"trainer.validation_metric": "loss"})
    with pytest.raises(ConfigurationError, match="at trainer.cuda_device: CUDA device 3 is not available"):
        _train(tmp_path / "c", monkeypatch, {"trainer.cuda_device": 3})


def test_gradient_accumulation_and_clipping_train(tmp_path, monkeypatch):
    model = _train(tmp_path, monkeypatch, {"trainer.num_epochs": 1, "trainer.num_gradient_accumulation_steps": 2,
                                           "trainer.grad_norm": 1.0, "trainer.grad_clipping": 0.5})
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["training_loss"] > 0 and model is not None
