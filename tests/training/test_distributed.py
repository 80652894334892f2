"""Data-parallel training on the CPU (gloo, 2 processes): the same steps as one process with the union of
the batches, accumulation under DDP, exact recovery after a worker is SIGKILLed, uneven shards, metrics
reduced over processes, two "nodes" on loopback; and in one process: sharded loaders, bf16 autocast on
the CPU, the tensorboard callback.

The corpora have lines of equal length, so that every batch of a size has as many target tokens and a
2-process step (each process's mean loss, gradients averaged) is exactly the 1-process step on the union
of the two batches, up to float32 rounding: the weights are compared with atol 1e-5 (they are of order
0.1 to 1 and move by about 0.1 over the steps compared). Launches run with OMP_NUM_THREADS=1, so that
two launches of the same distributed run give the same bits.
"""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest
import torch

from lmlab.commands.testing import run_lmlab
from lmlab.common import ConfigurationError, Params
from lmlab.data.data_loaders import MultiProcessDataLoader
from lmlab.data.dataset_readers import ContiguousLanguageModelingReader, SimpleLanguageModelingDatasetReader
from lmlab.data.vocabulary import Vocabulary
from lmlab.modules.metrics import CategoricalAccuracy, Perplexity, SpanBasedF1Measure
from lmlab.training import TrainerCallback
from lmlab.training.distributed import process_group_from_environment
from lmlab.training.experiment import train_model

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "fixtures" / "configs" / "lm_tiny.jsonnet")
WORDS = ["the", "cat", "dog", "sat", "on", "mat", "a", "rug"]
TIMEOUT = 300  # seconds; a hang fails the test instead of blocking the suite
KILLER = '''
import os, signal
from lmlab.training.callbacks import TrainerCallback


@TrainerCallback.register("kill_rank_after")
class KillRankAfter(TrainerCallback):
    """SIGKILLs its own process after $LMLAB_KILL_AFTER optimizer steps, on rank $LMLAB_KILL_RANK only.

    Inputs: -. Outputs: -.
    """

    def on_batch(self, trainer, batch_outputs, epoch, step):
        limit = os.environ.get("LMLAB_KILL_AFTER")
        if limit and os.environ.get("RANK") == os.environ["LMLAB_KILL_RANK"] and step >= int(limit):
            os.kill(os.getpid(), signal.SIGKILL)
'''


def _corpus(path: Path, lines: int, offset: int = 0) -> str:
    path.write_text("".join(" ".join(WORDS[((i + offset) * 3 + j * 5) % 8] for j in range(6)) + "\n"
                            for i in range(lines)))
    return str(path)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Dict[str, Any]:
    """33 training lines (shards of 17 and 16: 5 and 4 batches of 4, so 4 each), 9 validation lines (2 and
    1 batches: evaluation is uneven), the killer plugin, and the distributed config (per process batch 4,
    sparse input embedding, SGD)."""
    root = tmp_path_factory.mktemp("distributed")
    (root / "rank_killer_plugin.py").write_text(KILLER)
    overrides = {
        "train_data_path": _corpus(root / "train.txt", 33), "validation_data_path": _corpus(root / "valid.txt", 9, 5),
        "model.dropout": 0.0, "model.text_field_embedder.token_embedders.tokens.sparse": True,
        "data_loader": {"batch_size": 4, "shuffle": True},
        "trainer": {"optimizer": {"type": "sgd", "lr": 0.5}, "num_epochs": 3, "checkpoint_every_n_batches": 2,
                    "num_checkpoints_to_keep": 100, "progress_bar": False, "callbacks": [{"type": "kill_rank_after"}]},
    }
    env = {"OMP_NUM_THREADS": "1", "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "LMLAB_KILL_RANK": "1"}
    return {"root": root, "overrides": overrides, "env": env,
            "args": [CONFIG, "-o", json.dumps(overrides), "--include-package", "rank_killer_plugin"]}


@pytest.fixture(scope="module")
def two_nodes(data) -> Path:
    """The distributed run, launched as two "nodes" of one process each: two torchrun launches that meet
    at a c10d rendezvous on loopback."""
    run = data["root"] / "two_nodes"
    endpoint = f"127.0.0.1:{_free_port()}"
    logs = [data["root"] / f"node_{node}.log" for node in range(2)]
    launches = [subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
         "--rdzv-backend", "c10d", "--rdzv-endpoint", endpoint, "--rdzv-id", "two_nodes", "--max-restarts", "0",
         "--local-addr", "127.0.0.1", "-m", "lmlab", "train", *data["args"], "-s", str(run)],
        env={**os.environ, **data["env"]}, stdout=subprocess.DEVNULL, stderr=log.open("w")) for log in logs]
    for launch, log in zip(launches, logs, strict=True):
        assert launch.wait(timeout=TIMEOUT) == 0, log.read_text()
    return run


def _weights(run: Path, checkpoint: str) -> Dict[str, torch.Tensor]:
    state = torch.load(run / "checkpoints" / checkpoint, weights_only=True)
    return state["model"]


def _assert_close(a: Dict[str, torch.Tensor], b: Dict[str, torch.Tensor], atol: float) -> None:
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=atol, msg=name)


def test_two_processes_with_batch_b_step_like_one_process_with_batch_2b(data, two_nodes, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    overrides = {**data["overrides"], "data_loader": {"batch_size": 8, "shuffle": True},
                 "trainer": {**data["overrides"]["trainer"], "num_epochs": 1, "checkpoint_every_n_batches": 4,
                             "callbacks": []}}
    train_model(Params.from_file(CONFIG, json.dumps(overrides)), str(tmp_path / "one"))
    # one process: 5 batches of 8 (the last holds the 33rd line); two: 4 each. Compared after 4 steps.
    one = _weights(tmp_path / "one", "checkpoint_epoch_0_batch_4.th")
    two = _weights(two_nodes, "checkpoint_epoch_1_batch_0.th")
    _assert_close(one, two, atol=1e-5)
    start = _weights(two_nodes, "checkpoint_epoch_0_batch_2.th")
    assert max((two[n] - start[n]).abs().max().item() for n in two if two[n].numel()) > 0.05  # they moved


def test_validation_metrics_of_two_processes_are_those_of_one_process_on_all_the_data(two_nodes, monkeypatch):
    from lmlab.models.archival import load_archive
    from lmlab.training.evaluation import evaluate_model
    from lmlab.training.experiment import build_data_loader, evaluation_loader_config

    monkeypatch.chdir(ROOT)
    archive = load_archive(str(two_nodes / "model.tar.gz"))
    config = json.loads((two_nodes / "config.json").read_text())
    archive.model.load_state_dict(_weights(two_nodes, "checkpoint_epoch_1_batch_0.th"))  # the weights of epoch 0
    loader = build_data_loader(evaluation_loader_config(None, config["data_loader"]), archive.dataset_reader,
                               config["validation_data_path"])
    loader.index_with(archive.model.vocab)
    single = evaluate_model(archive.model, loader, torch.device("cpu"), progress_bar=False)
    distributed = json.loads((two_nodes / "metrics_epoch_0.json").read_text())
    # the same sums, added in another order and over other batches (float32 means per batch)
    assert distributed["validation_loss"] == pytest.approx(single["loss"], rel=1e-6)
    assert distributed["validation_perplexity"] == pytest.approx(single["perplexity"], rel=1e-6)


def test_uneven_shards_run_as_many_batches_on_every_process(two_nodes):
    # finished (within the fixture's timeout) with 4 batches per epoch: rank 0's fifth batch was left out
    names = sorted(path.name for path in (two_nodes / "checkpoints").iterdir())
    assert names == [f"checkpoint_epoch_{e}_batch_{b}.th" for e, b in
                     [(0, 2), (0, 4), (1, 0), (1, 2), (1, 4), (2, 0), (2, 2), (2, 4), (3, 0)]]
    state = torch.load(two_nodes / "checkpoints" / "checkpoint_epoch_3_batch_0.th", weights_only=True)
    assert state["trainer"]["optimizer_steps"] == 12 and len(state["rng"]) == 2
    assert (two_nodes / "model.tar.gz").is_file() and not list(two_nodes.parent.glob(".two_nodes.tmp-*"))


def test_killing_one_worker_stops_the_run_and_recover_ends_with_the_uninterrupted_weights(data, two_nodes,
                                                                                          monkeypatch):
    run = data["root"] / "killed"
    env = {**data["env"], "LMLAB_KILL_AFTER": "7"}  # rank 1 dies after batch 3 of epoch 1 (checkpoint at 2)
    killed = run_lmlab(["train", *data["args"], "-s", run, "--nproc", "2"], env=env, timeout=TIMEOUT)
    assert killed.returncode == 1, killed.stderr
    assert "lmlab: error: training process of rank 1 was stopped by SIGKILL" in killed.stderr
    assert (run / "checkpoints" / "checkpoint_epoch_1_batch_2.th").is_file()
    assert not (run / "checkpoints" / "checkpoint_epoch_1_batch_4.th").exists()
    assert not (run / "model.tar.gz").exists()
    recovered = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "lmlab",
         "train", *data["args"], "-s", str(run), "--recover"],
        env={**os.environ, **data["env"]}, capture_output=True, text=True, timeout=TIMEOUT)
    assert recovered.returncode == 0, recovered.stderr
    final = "checkpoint_epoch_3_batch_0.th"
    a, b = _weights(two_nodes, final), _weights(run, final)
    for name in a:
        assert torch.equal(a[name], b[name]), name
    metrics_a = json.loads((two_nodes / "metrics.json").read_text())
    metrics_b = json.loads((run / "metrics.json").read_text())
    assert metrics_b["validation_perplexity"] == metrics_a["validation_perplexity"]
    assert metrics_b["training_perplexity"] == metrics_a["training_perplexity"]
    # another number of processes cannot continue it
    monkeypatch.syspath_prepend(str(data["root"]))  # for --include-package in this process
    other = run_lmlab(["train", *data["args"], "-s", run, "--recover"], isolated=False)
    assert other.returncode == 2 and "written by 2 process(es), and this run has 1" in other.stderr


def _accumulating_worker(rank: int, port: int, overrides: Dict[str, Any], run: str) -> None:
    """One of two processes: metric reductions, then the distributed run with accumulation."""
    os.environ.update({"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    with process_group_from_environment():
        _check_metric_reductions(rank)
        os.chdir(ROOT)
        train_model(Params.from_file(CONFIG, json.dumps(overrides)), run)


def _check_metric_reductions(rank: int) -> None:
    """Each process measures its share of some data; reduced, every process holds the whole data's metric,
    exactly (counts, and float64 sums of two terms)."""
    generator = torch.Generator().manual_seed(0)
    scores, gold = torch.randn(6, 5, 4, generator=generator), torch.randint(0, 4, (6, 5), generator=generator)
    scores[:3] += 10 * torch.nn.functional.one_hot(gold[:3], 4)  # rows 0-2 predicted right: some spans match
    mask = torch.arange(5) < torch.tensor([5, 3, 4, 1, 5, 2]).unsqueeze(1)  # (6, 5)
    vocab = Vocabulary()
    vocab.add_tokens_to_namespace(["O", "B-NP", "I-NP", "B-VP"], "labels")
    nll, counts = torch.rand(6, generator=generator, dtype=torch.float64), torch.tensor([5, 3, 4, 1, 5, 2])
    accuracy, spans, perplexity = CategoricalAccuracy(), SpanBasedF1Measure(vocab), Perplexity()
    whole_accuracy, whole_spans, whole_perplexity = CategoricalAccuracy(), SpanBasedF1Measure(vocab), Perplexity()
    mine = slice(rank, None, 2)
    accuracy(scores[mine], gold[mine], mask[mine])
    whole_accuracy(scores, gold, mask)
    for value, count in zip(nll[mine], counts[mine], strict=True):
        perplexity(value, count)
    for value, count in zip(nll, counts, strict=True):
        whole_perplexity(value, count)
    if rank == 0:  # rank 1 sees no tagged sentence: its span counts stay a plain 0
        spans(scores, gold, mask)
    whole_spans(scores, gold, mask)
    expected_spans = whole_spans.get_metric()
    assert 0 < expected_spans["f1-measure-overall"] < 1
    for metric in (accuracy, spans, perplexity):
        metric.all_reduce()
    assert accuracy.get_metric() == whole_accuracy.get_metric()
    assert spans.get_metric() == expected_spans
    assert perplexity.get_metric() == pytest.approx(whole_perplexity.get_metric(), rel=1e-12)


def test_accumulation_under_ddp_and_metric_reductions(data, two_nodes, tmp_path):
    overrides = {**data["overrides"], "data_loader": {"batch_size": 2, "shuffle": True},
                 "trainer": {**data["overrides"]["trainer"], "num_epochs": 1, "num_gradient_accumulation_steps": 2,
                             "checkpoint_every_n_batches": None, "callbacks": []}}
    torch.multiprocessing.spawn(_accumulating_worker, args=(_free_port(), overrides, str(tmp_path / "accumulated")),
                                nprocs=2)
    # 2 x (2 batches of 2) per process and step: the same lines as one batch of 4 per process
    _assert_close(_weights(tmp_path / "accumulated", "checkpoint_epoch_1_batch_0.th"),
                  _weights(two_nodes, "checkpoint_epoch_1_batch_0.th"), atol=1e-5)


# --- in one process ------------------------------------------------------------------------------------
def _loader(reader, path, batch_size, **kwargs):
    loader = MultiProcessDataLoader(reader, path, batch_size=batch_size, **kwargs)
    vocab = Vocabulary.from_instances(loader.iter_instances())
    loader.index_with(vocab)
    return loader


def _lines(batch):
    return [tuple(row.tolist()) for row in batch["source"]["tokens"]["tokens"]]


@pytest.mark.parametrize("even", [True, False])
def test_sharded_loader_covers_the_data_once(tmp_path, even):
    path = _corpus(tmp_path / "lines.txt", 33)
    shards = [_loader(SimpleLanguageModelingDatasetReader(), path, 4, shuffle=True) for _ in range(2)]
    for rank, loader in enumerate(shards):
        loader.shard(rank, 2, even=even)
    whole = _loader(SimpleLanguageModelingDatasetReader(), path, 8, shuffle=True)
    for epoch in range(2):
        batches = [list(loader.iter_epoch(epoch)) for loader in shards]
        assert [len(b) for b in batches] == ([4, 4] if even else [5, 4])
        singles = list(whole.iter_epoch(epoch))
        for k in range(len(batches[0])):  # batch k of both = batch k of one with 2b (even: but the last)
            together = sorted(line for b in batches for line in (_lines(b[k]) if k < len(b) else []))
            assert together == sorted(_lines(singles[k]))


def test_contiguous_streams_stay_on_their_process(tmp_path):
    path = tmp_path / "stream.txt"
    path.write_text(" ".join(f"w{i}" for i in range(200)) + "\n")
    reader = ContiguousLanguageModelingReader(bptt=5, num_streams=4)
    whole = list(_loader(reader, str(path), 4).iter_epoch(0))
    for rank in range(2):
        loader = _loader(reader, str(path), 2)
        loader.shard(rank, 2, even=True)
        batches = list(loader.iter_epoch(0))
        assert len(batches) == len(whole)
        for k, batch in enumerate(batches):
            assert _lines(batch) == _lines(whole[k])[rank::2]  # streams rank, rank + 2
            if k:  # each row continues the window before it: carried states stay right
                assert torch.equal(batch["source"]["tokens"]["tokens"][:, 0],
                                   batches[k - 1]["forward_targets"]["tokens"]["tokens"][:, -1])
    with pytest.raises(ConfigurationError, match="keeps 4 consecutive instances together"):
        _loader(reader, str(path), 1).shard(0, 3, even=True)


def test_training_over_streaming_shards_needs_batches_per_epoch(tmp_path):
    path = _corpus(tmp_path / "lines.txt", 8)
    loader = _loader(SimpleLanguageModelingDatasetReader(), path, 2, max_instances_in_memory=4)
    with pytest.raises(ConfigurationError, match="at batches_per_epoch: needed for distributed training"):
        loader.shard(0, 2, even=True)
    loader.shard(1, 2, even=False)  # evaluation covers its share, however long
    assert sum(len(_lines(batch)) for batch in loader.iter_epoch(0)) == 4


LOSS_DTYPES: List[torch.dtype] = []


@TrainerCallback.register("record_loss_dtypes")
class _RecordLossDtypes(TrainerCallback):
    """Appends the dtype of every training loss to LOSS_DTYPES.

    Inputs: -. Outputs: -.
    """

    def on_batch(self, trainer, batch_outputs, epoch, step):
        LOSS_DTYPES.append(batch_outputs["loss"].dtype)


def test_bf16_autocast_on_the_cpu_trains_with_float32_losses(tmp_path, monkeypatch):
    from lmlab.models.model import Model

    monkeypatch.chdir(ROOT)
    autocast = []  # per forward of the model: the autocast dtype in force, None outside autocast
    handle = torch.nn.modules.module.register_module_forward_hook(
        lambda module, args, output: autocast.append(
            torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None)
        if isinstance(module, Model) else None)
    LOSS_DTYPES.clear()
    try:
        train_model(Params.from_file(CONFIG, json.dumps({
            "data_loader.batch_size": 16, "trainer": {"num_epochs": 2, "use_amp": True, "progress_bar": False,
                                                      "callbacks": [{"type": "record_loss_dtypes"}]}})),
            str(tmp_path / "bf16"))
    finally:
        handle.remove()
    assert autocast and set(autocast) == {torch.bfloat16}  # training and validation forwards
    assert LOSS_DTYPES and set(LOSS_DTYPES) == {torch.float32}
    metrics = json.loads((tmp_path / "bf16" / "metrics.json").read_text())
    assert metrics["validation_perplexity"] < json.loads((tmp_path / "bf16" / "metrics_epoch_0.json").read_text())[
        "training_perplexity"]
    model = torch.load(tmp_path / "bf16" / "best.th", weights_only=True)
    assert {value.dtype for value in model.values() if value.is_floating_point()} == {torch.float32}
    with pytest.raises(ConfigurationError, match="at trainer.amp_dtype: float16 autocast needs a GPU"):
        train_model(Params.from_file(CONFIG, json.dumps({"trainer": {"use_amp": True, "amp_dtype": "float16"}})),
                    str(tmp_path / "fp16"))


def test_tensorboard_callback_writes_step_and_epoch_scalars(tmp_path, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.chdir(ROOT)
    train_model(Params.from_file(CONFIG, json.dumps({
        "data_loader.batch_size": 32, "trainer": {"num_epochs": 2, "log_every_n_batches": 3, "progress_bar": False,
                                                  "optimizer": {"type": "sgd", "lr": 0.25},
                                                  "callbacks": [{"type": "tensorboard"}]}})),
        str(tmp_path / "run"))
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"step/loss", "step/perplexity", "step/tokens_per_second", "step/learning_rate", "step/grad_norm",
            "epoch/training_loss", "epoch/training_perplexity", "epoch/validation_loss",
            "epoch/validation_perplexity", "epoch/learning_rate"} <= tags
    per_epoch = 10  # 300 lines in batches of 32
    assert [event.step for event in events.Scalars("step/loss")] == [3, 6, 9, 13, 16, 19]  # every 3rd batch
    assert [event.step for event in events.Scalars("epoch/validation_perplexity")] == [per_epoch, 2 * per_epoch]
    assert {event.value for event in events.Scalars("step/learning_rate")} == {0.25}
    assert all(event.value > 0 for event in events.Scalars("step/grad_norm"))
    for epoch, event in enumerate(events.Scalars("epoch/validation_perplexity")):
        metrics = json.loads((tmp_path / "run" / f"metrics_epoch_{epoch}.json").read_text())
        assert event.value == pytest.approx(metrics["validation_perplexity"], rel=1e-6)
    losses = [event.value for event in events.Scalars("step/loss")]
    assert losses[-1] < losses[0]
