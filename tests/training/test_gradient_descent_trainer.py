"""The trainer in-process on the tiny corpus: patience, metrics files, checkpoints kept, device errors,
gradient accumulation and clipping (sparse gradients included), learning-rate totals, exact resumption."""
import json
import math
from pathlib import Path
from typing import Optional

import pytest
import torch

from lmlab.common import ConfigurationError, Params
from lmlab.common.registrable import Registrable
from lmlab.training import TrainerCallback
from lmlab.training.experiment import train_model
from lmlab.training.gradient_descent_trainer import clip_gradients_

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "fixtures" / "configs" / "lm_tiny.jsonnet")


def _train(tmp_path, monkeypatch, overrides, name="run", recover=False):
    monkeypatch.chdir(ROOT)
    params = Params.from_file(CONFIG, overrides=json.dumps({"trainer.progress_bar": False, **overrides}))
    return train_model(params, str(tmp_path / name), recover=recover)


def _checkpoint(tmp_path, name, epoch, batch=0):
    return torch.load(tmp_path / name / "checkpoints" / f"checkpoint_epoch_{epoch}_batch_{batch}.th",
                      weights_only=True)


def _parameters(checkpoint, model):
    return {name: checkpoint["model"][name] for name, _ in model.named_parameters()}


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


# --- gradient accumulation and clipping -------------------------------------------------------------
def test_accumulating_k_batches_of_b_over_k_is_one_step_of_b(tmp_path, monkeypatch):
    # every line has 6 tokens, so the mean loss of a batch of 32 is the mean of its two halves' means
    words = ["the", "cat", "dog", "sat", "on", "mat", "a", "rug"]
    corpus = tmp_path / "equal.txt"
    corpus.write_text("".join(" ".join(words[(i * 3 + j * 5) % 8] for j in range(6)) + "\n" for i in range(64)))
    common = {"train_data_path": str(corpus), "model.dropout": 0.0, "trainer.num_epochs": 1,
              "trainer.optimizer": {"type": "sgd", "lr": 0.5}}
    model = _train(tmp_path, monkeypatch, {**common, "data_loader.batch_size": 32}, "whole")
    _train(tmp_path, monkeypatch, {**common, "data_loader.batch_size": 16,
                                   "trainer.num_gradient_accumulation_steps": 2}, "accumulated")
    _train(tmp_path, monkeypatch, {**common, "data_loader.batch_size": 16}, "every_batch")
    whole = _parameters(_checkpoint(tmp_path, "whole", 1), model)
    accumulated = _parameters(_checkpoint(tmp_path, "accumulated", 1), model)
    every_batch = _parameters(_checkpoint(tmp_path, "every_batch", 1), model)
    for name in whole:
        torch.testing.assert_close(accumulated[name], whole[name], rtol=0, atol=1e-6)
    assert max((every_batch[n] - whole[n]).abs().max().item() for n in whole) > 1e-3  # 4 steps are not 2


def _sgd_steps(tmp_path, monkeypatch, name, clipping):
    """Two epochs of one full batch each, SGD with lr 1 and a sparse input embedding: returns the
    parameter change of the second step, by name (the first step warms nothing up: SGD has no state)."""
    model = _train(tmp_path, monkeypatch, {
        "model.text_field_embedder.token_embedders.tokens.sparse": True, "data_loader.batch_size": 512,
        "trainer.optimizer": {"type": "sgd", "lr": 1.0}, "trainer.num_epochs": 2, **clipping}, name)
    before = _parameters(_checkpoint(tmp_path, name, 1), model)
    after = _parameters(_checkpoint(tmp_path, name, 2), model)
    return {n: after[n] - before[n] for n in before}


def test_grad_norm_clips_the_total_norm_including_sparse_gradients(tmp_path, monkeypatch):
    step = _sgd_steps(tmp_path, monkeypatch, "norm", {"trainer.grad_norm": 0.01})
    embedding = "_text_field_embedder.token_embedders.tokens.weight"
    assert step[embedding].abs().sum() > 0  # the sparse gradient was applied ...
    total = math.sqrt(sum(float(d.double().pow(2).sum()) for d in step.values()))
    assert total == pytest.approx(0.01, rel=1e-4)  # ... and counted and scaled with all the others


def test_grad_clipping_clamps_summed_sparse_rows(tmp_path, monkeypatch):
    # a frequent word's embedding row gets one gradient per occurrence: the clamp applies to their sum
    step = _sgd_steps(tmp_path, monkeypatch, "value", {"trainer.grad_clipping": 1e-4})
    largest = {name: d.abs().max().item() for name, d in step.items()}  # float32 weights: differences to 1e-3
    assert max(largest.values()) == pytest.approx(1e-4, rel=1e-3)
    assert largest["_text_field_embedder.token_embedders.tokens.weight"] == pytest.approx(1e-4, rel=1e-3)


def _repeated_rows():
    """A (4, 2) sparse gradient of rows 1, 1, 2, uncoalesced as an embedding's backward leaves a repeated
    token: row 1 sums to (3, 0), row 2 is (0, 2)."""
    return torch.sparse_coo_tensor(torch.tensor([[1, 1, 2]]), torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 2.0]]),
                                   (4, 2), check_invariants=True)


def test_clip_gradients_by_hand():
    dense = torch.nn.Parameter(torch.zeros(2))
    dense.grad = torch.tensor([3.0, 4.0])
    sparse = torch.nn.Parameter(torch.zeros(4, 2))
    sparse.grad = _repeated_rows()
    unused = torch.nn.Parameter(torch.zeros(1))
    total = clip_gradients_([dense, sparse, unused], None, 1.0)
    assert float(total) == pytest.approx(math.sqrt(25 + 9 + 4))
    scale = 1.0 / (math.sqrt(38) + 1e-6)
    torch.testing.assert_close(dense.grad, torch.tensor([3.0, 4.0]) * scale)
    torch.testing.assert_close(sparse.grad.to_dense(), torch.tensor([[0, 0], [3, 0], [0, 2], [0, 0.0]]) * scale)
    assert unused.grad is None

    dense.grad = torch.tensor([3.0, -4.0])
    sparse.grad = _repeated_rows()
    total = clip_gradients_([dense, sparse], 2.5, None)  # clamped: (2.5, -2.5) and rows (2.5, 0), (0, 2)
    assert float(total) == pytest.approx(math.sqrt(2.5 ** 2 * 3 + 4))
    torch.testing.assert_close(dense.grad, torch.tensor([2.5, -2.5]))
    torch.testing.assert_close(sparse.grad.to_dense(), torch.tensor([[0, 0], [2.5, 0], [0, 2], [0, 0.0]]))


# --- learning-rate schedules need the number of steps ------------------------------------------------
STREAMING = {"dataset_reader.max_instances": 96,
             "data_loader": {"batch_size": 16, "shuffle": True, "max_instances_in_memory": 64}}
WARMUP = {"trainer.learning_rate_scheduler": {"type": "linear_with_warmup", "warmup_steps": 2}}


def test_linear_schedule_on_streaming_data_takes_its_total_from_batches_per_epoch(tmp_path, monkeypatch):
    _train(tmp_path, monkeypatch, {**STREAMING, **WARMUP, "data_loader.batches_per_epoch": 4,
                                   "trainer.num_epochs": 3})
    # 12 steps in all: after 8 of them the rate is 1 - (8 - 2) / (12 - 2) of the optimizer's 0.01
    assert _checkpoint(tmp_path, "run", 2)["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.004)
    assert _checkpoint(tmp_path, "run", 3)["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.0)


def test_linear_schedule_on_streaming_data_without_a_total_is_a_config_error(tmp_path, monkeypatch):
    with pytest.raises(ConfigurationError, match="at trainer.learning_rate_scheduler.total_steps: needed"):
        _train(tmp_path, monkeypatch, {**STREAMING, **WARMUP})
    _train(tmp_path, monkeypatch, {**STREAMING, **WARMUP, "trainer.learning_rate_scheduler.total_steps": 10,
                                   "trainer.num_epochs": 1}, "explicit")
    # one pass of 96 lines in batches of 16 is 6 steps: the rate is 1 - (6 - 2) / (10 - 2) of 0.01
    assert _checkpoint(tmp_path, "explicit", 1)["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.005)


# --- exact resumption ----------------------------------------------------------------------------------
class _Crash(Exception):
    pass


class _CrashAfter(TrainerCallback):
    """Raises `_Crash` once `limit` optimizer steps are done (when `limit` is set).

    Inputs: -. Outputs: -.
    """

    limit: Optional[int] = None

    def on_batch(self, trainer, batch_outputs, epoch, step):
        if _CrashAfter.limit is not None and step >= _CrashAfter.limit:
            raise _Crash()


@pytest.fixture
def crash_after(monkeypatch):
    monkeypatch.setitem(Registrable._registry[TrainerCallback], "crash_after", (_CrashAfter, None))
    monkeypatch.setattr(_CrashAfter, "limit", None)
    return _CrashAfter


RESUMABLE = {"dataset_reader.max_instances": 96, "trainer.num_epochs": 2, "trainer.checkpoint_every_n_batches": 2,
             "trainer.num_checkpoints_to_keep": 20, "trainer.callbacks": [{"type": "crash_after"}]}

_AS_CUDA = {"on": False}


def _cuda_tag(storage):
    """While asked, saves CPU storages tagged as CUDA ones: a checkpoint as a GPU run writes it."""
    return "cuda:0" if _AS_CUDA["on"] and storage.device.type == "cpu" else None


torch.serialization.register_package(0, _cuda_tag, lambda storage, location: None)


def _as_written_on_a_gpu(path):
    state = torch.load(path, weights_only=True)
    _AS_CUDA["on"] = True
    try:
        torch.save(state, path)
    finally:
        _AS_CUDA["on"] = False
    if not torch.cuda.is_available():  # the file really names a GPU: only a CPU map loads it here
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(path, weights_only=True)


@pytest.mark.parametrize("loader,per_epoch", [
    ({"data_loader.batch_size": 16}, 6),  # in memory, 96 instances
    ({"data_loader": {"batch_size": 16, "shuffle": True, "batches_per_epoch": 5}}, 5),
    ({"data_loader": {"batch_size": 16, "shuffle": True, "max_instances_in_memory": 40, "batches_per_epoch": 7}}, 7),
    # the contiguous reader's id-stream table, hidden states carried across windows (and checkpointed)
    ({"dataset_reader": {"type": "contiguous_language_modeling", "bptt": 10, "num_streams": 4, "max_instances": 96},
      "data_loader": {"batch_size": 4, "shuffle": False, "batches_per_epoch": 5}, "model.carry_hidden_state": True}, 5),
], ids=["in_memory", "in_memory_batches_per_epoch", "streaming_batches_per_epoch", "contiguous_streams"])
def test_resuming_mid_epoch_from_a_gpu_checkpoint_gives_the_uninterrupted_run(tmp_path, monkeypatch, crash_after,
                                                                             loader, per_epoch):
    overrides = {**RESUMABLE, **loader}
    model = _train(tmp_path, monkeypatch, overrides, "straight")
    crash_after.limit = per_epoch + 3  # in epoch 1, a batch after its checkpoint at batch 2
    with pytest.raises(_Crash):
        _train(tmp_path, monkeypatch, overrides, "crashed")
    crash_after.limit = None
    _as_written_on_a_gpu(tmp_path / "crashed" / "checkpoints" / "checkpoint_epoch_1_batch_2.th")
    locations = []
    real_load = torch.load

    def recording_load(*args, **kwargs):
        locations.append(kwargs.get("map_location"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", recording_load)
    _train(tmp_path, monkeypatch, overrides, "crashed", recover=True)
    monkeypatch.setattr(torch, "load", real_load)
    assert locations and locations == ["cpu"] * len(locations)  # to the CPU, never to the trainer's device
    straight, resumed = _checkpoint(tmp_path, "straight", 2), _checkpoint(tmp_path, "crashed", 2)
    for name, value in _parameters(straight, model).items():
        assert torch.equal(value, resumed["model"][name]), name
    assert resumed["data_loader"] == straight["data_loader"]
    metrics_a = json.loads((tmp_path / "straight" / "metrics.json").read_text())
    metrics_b = json.loads((tmp_path / "crashed" / "metrics.json").read_text())
    # the model's training perplexity covers the whole resumed epoch, as the trainer's loss does
    assert metrics_b["training_perplexity"] == metrics_a["training_perplexity"]
    assert metrics_b["training_loss"] == pytest.approx(metrics_a["training_loss"], rel=1e-12)
    assert metrics_b["validation_perplexity"] == metrics_a["validation_perplexity"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_resume_on_a_gpu(tmp_path, monkeypatch, crash_after):
    overrides = {**RESUMABLE, "data_loader.batch_size": 16, "trainer.cuda_device": 0}
    _train(tmp_path, monkeypatch, overrides, "straight")
    crash_after.limit = 6 + 3
    with pytest.raises(_Crash):
        _train(tmp_path, monkeypatch, overrides, "crashed")
    crash_after.limit = None
    _train(tmp_path, monkeypatch, overrides, "crashed", recover=True)  # CUDA RNG states restored from CPU tensors
    metrics_a = json.loads((tmp_path / "straight" / "metrics.json").read_text())
    metrics_b = json.loads((tmp_path / "crashed" / "metrics.json").read_text())
    assert metrics_b["training_perplexity"] == pytest.approx(metrics_a["training_perplexity"], rel=1e-4)
