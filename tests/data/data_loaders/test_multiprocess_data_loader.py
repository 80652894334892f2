"""`multiprocess` data loader: exact batching, bucketing, determinism, resumption and workers."""
import pytest
import torch

from lmlab.common import ConfigurationError, Lazy, Params
from lmlab.data import SimpleLanguageModelingDatasetReader, Vocabulary
from lmlab.data.data_loaders import DataLoader

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
    assert all(torch.equal(a, b) for a, b in zip(full[2:], resumed))


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
    with pytest.raises(ConfigurationError, match="set batch_size or max_tokens"):
        _loader(corpus)
    with pytest.raises(ConfigurationError, match="at data_loader.batch_size: must be positive, found 0"):
        _loader(corpus, batch_size=0)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    reader = SimpleLanguageModelingDatasetReader()
    loader = Lazy(DataLoader, Params({"batch_size": 2})).construct(reader=reader, data_path=str(empty))
    loader.index_with(Vocabulary())
    with pytest.raises(Exception, match="no instances read from"):
        list(loader.iter_epoch(0))
