"""`multiprocess` data loader: exact batching, bucketing, determinism, resumption, batches per epoch,
reading once, persistent workers."""
import os

import pytest
import torch

from lmlab.common import ConfigurationError, Lazy, Params
from lmlab.data import SimpleLanguageModelingDatasetReader, Vocabulary
from lmlab.data.data_loaders import DataLoader
from lmlab.data.data_loaders.multiprocess_data_loader import default_num_workers

LINES = [" ".join(f"w{i}" for i in range(length)) for length in (3, 7, 2, 9, 4, 4, 1, 8, 6, 5)]


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(LINES) + "\n")
    return str(path)


def _loader(corpus, **config):
    reader = SimpleLanguageModelingDatasetReader()
    loader = Lazy(DataLoader, Params(config, "data_loader")).construct(reader=reader, data_path=corpus)
    loader.index_with(Vocabulary.from_instances(reader.read(corpus)))
    return loader


def _lengths(batches):
    return [batch["source"]["tokens"]["tokens"].gt(0).sum(1).tolist() for batch in batches]


def test_batch_size_in_file_order(corpus):
    loader = _loader(corpus, batch_size=4)
    batches = list(loader.iter_epoch(0))
    assert _lengths(batches) == [[3, 7, 2, 9], [4, 4, 1, 8], [6, 5]]
    assert len(loader) == 3
    assert batches[0]["source"]["tokens"]["tokens"].shape == (4, 9)  # padded to the longest in the batch


def test_max_tokens_caps_padded_size(corpus):
    batches = list(_loader(corpus, max_tokens=16).iter_epoch(0))
    lengths = _lengths(batches)
    assert [x for batch in lengths for x in batch] == [3, 7, 2, 9, 4, 4, 1, 8, 6, 5]  # every instance once
    for batch in lengths:
        assert max(batch) * len(batch) <= 16 or len(batch) == 1
    assert lengths == [[3, 7], [2], [9], [4, 4, 1], [8, 6], [5]]  # a batch closes when the next would not fit


def test_bucketing_groups_similar_lengths(corpus):
    lengths = _lengths(_loader(corpus, batch_size=3, bucket_by_length=True).iter_epoch(0))
    assert lengths == [[1, 2, 3], [4, 4, 5], [6, 7, 8], [9]]


def test_shuffle_is_deterministic_per_epoch_and_differs_between_epochs(corpus):
    loader = _loader(corpus, batch_size=3, shuffle=True, bucket_by_length=True)
    first, again, second = (_lengths(loader.iter_epoch(e)) for e in (0, 0, 1))
    assert first == again and first != second
    assert sorted(x for b in first for x in b) == sorted(x for b in second for x in b)
    for batch in first:  # still bucketed after shuffling
        assert max(batch) - min(batch) <= 2


def test_start_skips_batches_exactly(corpus):
    loader = _loader(corpus, batch_size=2, shuffle=True)
    full = [b["source"]["tokens"]["tokens"] for b in loader.iter_epoch(3)]
    resumed = [b["source"]["tokens"]["tokens"] for b in loader.iter_epoch(3, start=2)]
    assert len(resumed) == len(full) - 2
    assert all(torch.equal(a, b) for a, b in zip(full[2:], resumed, strict=True))


@pytest.mark.parametrize("memory", [None, 4])
def test_workers_give_the_same_batches(corpus, memory):
    serial = _loader(corpus, batch_size=2, max_instances_in_memory=memory)
    parallel = _loader(corpus, batch_size=2, max_instances_in_memory=memory, num_workers=2)
    serial_batches, parallel_batches = _lengths(serial.iter_epoch(0)), _lengths(parallel.iter_epoch(0))
    # every instance exactly once either way
    assert sorted(x for b in serial_batches for x in b) == sorted(x for b in parallel_batches for x in b)
    if memory is None:  # in memory, workers keep the exact batches and order
        assert serial_batches == parallel_batches
    else:  # streaming: each worker reads and batches its own shard, so batches are whole and ordered
        assert parallel_batches == _lengths(parallel.iter_epoch(0))


def test_streaming_chunks_and_unknown_length(corpus):
    loader = _loader(corpus, batch_size=3, max_instances_in_memory=4, bucket_by_length=True)
    assert _lengths(loader.iter_epoch(0)) == [[2, 3, 7], [9], [1, 4, 4], [8], [5, 6]]
    with pytest.raises(TypeError):
        len(loader)


def test_bad_settings_are_config_errors(corpus, tmp_path):
    with pytest.raises(ConfigurationError, match="at data_loader.batch_size: set batch_size or max_tokens"):
        _loader(corpus)
    with pytest.raises(ConfigurationError, match=r"at data_loader.batch_size: expected a value in \[1, inf\), found 0"):
        _loader(corpus, batch_size=0)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    reader = SimpleLanguageModelingDatasetReader()
    loader = Lazy(DataLoader, Params({"batch_size": 2})).construct(reader=reader, data_path=str(empty))
    loader.index_with(Vocabulary())
    with pytest.raises(Exception, match="no instances read from"):
        list(loader.iter_epoch(0))


# --- batches_per_epoch: an endless stream of passes, cut into epochs of N batches --------------------
def _tokens(batches):
    return [batch["source"]["tokens"]["tokens"] for batch in batches]


def _stream(corpus, passes, **config):
    """The stream of batches: passes 0, 1, ... of a loader without batches_per_epoch, one after another."""
    loader = _loader(corpus, **config)
    return [tokens for p in range(passes) for tokens in _tokens(loader.iter_epoch(p))]


def _same(a, b):
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("config", [{"batch_size": 4, "shuffle": True},  # 3 batches per pass
                                    {"batch_size": 2, "shuffle": True, "max_instances_in_memory": 4},  # streaming
                                    {"max_tokens": 16, "shuffle": True, "bucket_by_length": True}])
@pytest.mark.parametrize("per_epoch", [2, 7])  # fewer than a pass (continues), more (cycles into new passes)
def test_batches_per_epoch_cuts_the_stream_of_passes(corpus, config, per_epoch):
    stream = _stream(corpus, 10, **config)
    loader = _loader(corpus, batches_per_epoch=per_epoch, **config)
    assert len(loader) == per_epoch
    epochs = [_tokens(loader.iter_epoch(epoch)) for epoch in range(4)]
    assert all(len(epoch) == per_epoch for epoch in epochs)
    assert _same([tokens for epoch in epochs for tokens in epoch], stream[:4 * per_epoch])
    assert _same(_tokens(loader.iter_epoch(0)), stream[:per_epoch])  # an earlier epoch again (as evaluation does)


@pytest.mark.parametrize("config", [{"batch_size": 4, "shuffle": True},
                                    {"batch_size": 2, "shuffle": True, "max_instances_in_memory": 4},
                                    {"batch_size": 2, "shuffle": True, "max_instances_in_memory": 4, "num_workers": 2},
                                    {"batch_size": 3, "shuffle": True, "num_workers": 2}])
def test_batches_per_epoch_resumes_exactly_from_a_state_taken_mid_epoch(corpus, config):
    per_epoch = 4
    straight = _loader(corpus, batches_per_epoch=per_epoch, **config)
    expected = [_tokens(straight.iter_epoch(epoch)) for epoch in range(4)]
    original = _loader(corpus, batches_per_epoch=per_epoch, **config)
    for epoch in range(2):
        list(original.iter_epoch(epoch))
    batches = original.iter_epoch(2)
    next(batches), next(batches)
    state = original.state_dict()  # what a checkpoint after batch 2 of epoch 2 holds
    resumed = _loader(corpus, batches_per_epoch=per_epoch, **config)
    resumed.load_state_dict(state)
    assert _same(_tokens(resumed.iter_epoch(2, start=2)), expected[2][2:])
    assert _same(_tokens(resumed.iter_epoch(3)), expected[3])


def test_zero_batches_per_epoch_is_a_config_error(corpus):
    with pytest.raises(ConfigurationError,
                       match=r"at data_loader.batches_per_epoch: expected a value in \[1, inf\), found 0"):
        _loader(corpus, batch_size=2, batches_per_epoch=0)


# --- reading once, persistent workers, pinned memory ------------------------------------------------
class _CountingReader(SimpleLanguageModelingDatasetReader):
    """Appends the reading process's id to `log` each time a file is read."""

    def __init__(self, log):
        super().__init__()
        self.log = log

    def _read(self, file_path):
        with open(self.log, "a") as stream:
            stream.write(f"{os.getpid()}\n")
        yield from super()._read(file_path)


def _counted_loader(corpus, log, **config):
    reader = _CountingReader(log)
    loader = Lazy(DataLoader, Params(config, "data_loader")).construct(reader=reader, data_path=corpus)
    loader.index_with(Vocabulary.from_instances(loader.iter_instances()))  # the vocabulary pass, as training does
    return loader


def _reads(log):
    return log.read_text().split() if log.exists() else []


@pytest.mark.parametrize("workers", [0, 2])
def test_in_memory_data_is_read_once(corpus, tmp_path, workers):
    log = tmp_path / "reads.txt"
    loader = _counted_loader(corpus, log, batch_size=3, shuffle=True, num_workers=workers)
    assert len(loader) == 4
    for epoch in range(2):
        assert len(list(loader.iter_epoch(epoch))) == 4
    assert _reads(log) == [str(os.getpid())]  # vocabulary, length and both epochs share one read


def test_streaming_epochs_continue_the_open_pass(corpus, tmp_path):
    log = tmp_path / "reads.txt"
    loader = _counted_loader(corpus, log, batch_size=2, max_instances_in_memory=4, batches_per_epoch=2)
    for epoch in range(2):
        assert len(list(loader.iter_epoch(epoch))) == 2
    assert len(_reads(log)) == 2  # the vocabulary pass, then one pass (5 batches) for both epochs


def test_streaming_workers_persist_across_epochs(corpus, tmp_path):
    log = tmp_path / "reads.txt"
    loader = _counted_loader(corpus, log, batch_size=2, max_instances_in_memory=4, num_workers=2)
    lengths = [_lengths(loader.iter_epoch(epoch)) for epoch in range(3)]
    assert lengths[0] == lengths[1] == lengths[2]
    worker_reads = _reads(log)[1:]  # after the vocabulary pass in this process
    assert len(worker_reads) == 6 and len(set(worker_reads)) == 2  # 2 workers x 3 epochs, the same 2 processes
    assert str(os.getpid()) not in worker_reads


@pytest.mark.skipif(not torch.cuda.is_available(), reason="pinned memory needs CUDA")
@pytest.mark.parametrize("memory", [None, 4])
def test_batches_are_pinned_without_workers_when_cuda_is_available(corpus, memory):
    for batch in _loader(corpus, batch_size=3, max_instances_in_memory=memory).iter_epoch(0):
        assert batch["source"]["tokens"]["tokens"].is_pinned()


def test_workers_default_to_two_beside_a_gpu_for_data_in_memory_and_to_none_otherwise(corpus, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert _loader(corpus, batch_size=2).num_workers == 0  # no GPU: the model's threads use the cores
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert default_num_workers(streaming=False) == 2
    assert default_num_workers(streaming=True) == 0  # the worker count decides how a stream is batched
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert default_num_workers(streaming=False) == 0
