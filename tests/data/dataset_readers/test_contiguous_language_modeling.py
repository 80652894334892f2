import random
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset

from lmlab.common import ConfigurationError, Lazy, Params
from lmlab.data import (
    Batch,
    ContiguousLanguageModelingReader,
    DatasetReader,
    SingleIdTokenIndexer,
    TokenCharactersIndexer,
    Vocabulary,
)
from lmlab.data.data_loaders import DataLoader as TrainingLoader
from lmlab.data.dataset_readers.contiguous_language_modeling import StreamWindows
from lmlab.data.instance_table import InstanceList


def windows(instances):
    return [(instance["source"].tokens, instance["forward_targets"].tokens) for instance in instances]


def pytorch_example_windows(stream, bptt, num_streams):
    """PyTorch word_language_model: batchify (B columns), then get_batch(i) for i in range(0, n - 1, bptt)."""
    words = sorted(set(stream))
    ids = torch.tensor([words.index(token) for token in stream])
    nbatch = ids.size(0) // num_streams
    data = ids.narrow(0, 0, nbatch * num_streams).view(num_streams, -1).t().contiguous()  # (n, B)
    result = []
    for i in range(0, data.size(0) - 1, bptt):
        seq_len = min(bptt, len(data) - 1 - i)
        source, target = data[i:i + seq_len], data[i + 1:i + 1 + seq_len]  # (seq_len, B)
        for column in range(num_streams):
            result.append(([words[t] for t in source[:, column].tolist()],
                           [words[t] for t in target[:, column].tolist()]))
    return result


def corpus_stream(text):
    """The example's Corpus.tokenize: every line's words followed by <eos>, empty lines too."""
    return [word for line in text.splitlines() for word in line.split() + ["<eos>"]]


TEXT_23 = "w0 w1 w2 w3\nw4 w5 w6 w7 w8\n\nw9 w10 w11 w12 w13 w14\nw15 w16 w17\n"  # 23 tokens with <eos>


def test_sequential_windows(tmp_path):
    path = tmp_path / "lm.txt"
    path.write_text("a b c\n\nd e\n", encoding="utf-8")  # a b c <eos> <eos> d e <eos>
    reader = DatasetReader.from_params(Params({"type": "contiguous_language_modeling", "bptt": 3}))
    assert windows(reader.read(str(path))) == [
        (["a", "b", "c"], ["b", "c", "<eos>"]),
        (["<eos>", "<eos>", "d"], ["<eos>", "d", "e"]),
        (["e"], ["<eos>"]),
    ]
    no_eos = ContiguousLanguageModelingReader(bptt=2, end_of_line_token=None)
    assert windows(no_eos.read(str(path))) == [(["a", "b"], ["b", "c"]), (["c", "d"], ["d", "e"])]


def test_sequential_windows_match_the_pytorch_example_with_one_stream(tmp_path):
    rng = random.Random(0)
    for trial in range(20):
        lines = [" ".join(f"t{rng.randrange(5)}" for _ in range(rng.randrange(0, 7)))
                 for _ in range(rng.randrange(1, 6))]
        text = "\n".join(lines) + "\n"
        path = tmp_path / f"lm{trial}.txt"
        path.write_text(text, encoding="utf-8")
        for bptt in (1, 2, 3, 5, 40):
            expected = pytorch_example_windows(corpus_stream(text), bptt, 1)
            assert windows(ContiguousLanguageModelingReader(bptt=bptt).read(str(path))) == expected
            assert windows(ContiguousLanguageModelingReader(bptt=bptt, num_streams=1).read(str(path))) == expected


def test_batchify_layout_token_by_token(tmp_path):
    path = tmp_path / "lm.txt"
    path.write_text(TEXT_23, encoding="utf-8")
    stream = corpus_stream(TEXT_23)
    assert len(stream) == 23
    reader = ContiguousLanguageModelingReader(bptt=4, num_streams=2)
    got = windows(reader.read(str(path)))
    assert got == pytorch_example_windows(stream, bptt=4, num_streams=2)
    # By hand: streams are stream[0:11] and stream[11:22]; stream[22] is dropped; windows start at 0, 4, 8.
    assert got == [
        (["w0", "w1", "w2", "w3"], ["w1", "w2", "w3", "<eos>"]),
        (["<eos>", "w9", "w10", "w11"], ["w9", "w10", "w11", "w12"]),
        (["<eos>", "w4", "w5", "w6"], ["w4", "w5", "w6", "w7"]),
        (["w12", "w13", "w14", "<eos>"], ["w13", "w14", "<eos>", "w15"]),
        (["w7", "w8"], ["w8", "<eos>"]),
        (["w15", "w16"], ["w16", "w17"]),
    ]


def test_batchify_over_a_folder_concatenates_files(tmp_path):
    folder = tmp_path / "shards"
    folder.mkdir()
    first, second = TEXT_23.split("\n\n")
    (folder / "a.txt").write_text(first + "\n\n", encoding="utf-8")
    (folder / "b.txt").write_text(second, encoding="utf-8")
    reader = ContiguousLanguageModelingReader(bptt=4, num_streams=2)
    assert windows(reader.read(str(folder))) == pytorch_example_windows(corpus_stream(TEXT_23), 4, 2)
    sequential = windows(ContiguousLanguageModelingReader(bptt=100).read(str(folder)))  # one window per file
    assert [len(source) for source, _ in sequential] == [11, 10]  # 12 and 11 tokens


class ReaderDataset(IterableDataset):
    def __init__(self, reader, path):
        self.reader, self.path = reader, path

    def __iter__(self):
        return iter(self.reader.read(self.path))


def keep(instances):
    return instances


def test_loader_batches_reproduce_get_batch_even_with_workers(tmp_path):
    text = "\n".join(" ".join(f"x{(7 * i + j) % 13}" for j in range(i % 5)) for i in range(30)) + "\n"
    path = tmp_path / "lm.txt"
    path.write_text(text, encoding="utf-8")
    reader = ContiguousLanguageModelingReader(bptt=3, num_streams=4)
    expected = pytorch_example_windows(corpus_stream(text), 3, 4)
    context = "fork" if "fork" in torch.multiprocessing.get_all_start_methods() else None
    for workers in (0, 2):
        loader = DataLoader(ReaderDataset(reader, str(path)), batch_size=4, num_workers=workers, collate_fn=keep,
                            multiprocessing_context=context if workers else None)
        batches = [windows(batch) for batch in loader]
        assert [w for batch in batches for w in batch] == expected
    instances = list(reader.read(str(path)))
    vocab = Vocabulary.from_instances(instances)
    batch = Batch(instances[4:8])  # the second get_batch: rows continue the streams of the first
    batch.index_instances(vocab)
    tensors = batch.as_tensor_dict()
    assert tensors["source"]["tokens"]["tokens"].shape == (4, 3)
    assert tensors["forward_targets"]["tokens"]["tokens"].tolist() == [
        [vocab.get_token_index(t) for t in targets] for _, targets in expected[4:8]]


def test_text_to_instance_for_prediction_and_max_instances(tmp_path):
    reader = ContiguousLanguageModelingReader(bptt=2, max_instances=2)
    instance = reader.text_to_instance("the cat")
    assert list(instance.fields) == ["source"] and instance["source"].tokens == ["the", "cat"]
    path = tmp_path / "lm.txt"
    path.write_text("a b c d e f g\n", encoding="utf-8")
    assert windows(reader.read(str(path))) == [(["a", "b"], ["b", "c"]), (["c", "d"], ["d", "e"])]
    with pytest.raises(ValueError, match="as long as source"):
        reader.text_to_instance(["a"], ["b", "c"])


def test_too_short_for_the_streams_gives_nothing(tmp_path):
    path = tmp_path / "lm.txt"
    path.write_text("a\n", encoding="utf-8")  # a <eos>: one token per stream
    assert list(ContiguousLanguageModelingReader(num_streams=2).read(str(path))) == []
    path.write_text("", encoding="utf-8")
    assert list(ContiguousLanguageModelingReader().read(str(path))) == []


@pytest.mark.parametrize("key, value", [("bptt", 0), ("num_streams", 0)])
def test_config_errors(key, value):
    with pytest.raises(ConfigurationError) as info:
        DatasetReader.from_params(Params({"type": "contiguous_language_modeling", key: value}, "reader"))
    assert info.value.problems[0][0] == f"reader.{key}"


def test_reverse_reads_the_stream_backwards_in_both_modes(tmp_path):
    """A backward LM's data: exactly the forward layout of the reversed token stream (in both modes)."""
    path = tmp_path / "lm.txt"
    path.write_text(TEXT_23, encoding="utf-8")
    backwards = corpus_stream(TEXT_23)[::-1]  # <eos> w17 w16 w15 <eos> w14 ...
    for bptt in (1, 4, 35):
        sequential = ContiguousLanguageModelingReader(bptt=bptt, reverse=True)
        assert windows(sequential.read(str(path))) == pytorch_example_windows(backwards, bptt, 1)
        for streams in (1, 2, 3):
            batchified = ContiguousLanguageModelingReader(bptt=bptt, num_streams=streams, reverse=True)
            assert windows(batchified.read(str(path))) == pytorch_example_windows(backwards, bptt, streams)
    first = windows(ContiguousLanguageModelingReader(bptt=4, reverse=True).read(str(path)))[0]
    assert first == (["<eos>", "w17", "w16", "w15"], ["w17", "w16", "w15", "<eos>"])


def test_reverse_framing_reads_each_sentence_backwards_after_its_end_of_line_token(tmp_path):
    """Predictors frame a sentence with the reader's framing: a backward LM reads it the way it was trained."""
    forward, backward = ContiguousLanguageModelingReader(), ContiguousLanguageModelingReader(reverse=True)
    assert forward.framing.frame(["a", "b", "c"]) == ["a", "b", "c", "<eos>"]
    assert backward.framing.frame(["a", "b", "c"]) == ["<eos>", "c", "b", "a"]
    no_eos = ContiguousLanguageModelingReader(reverse=True, end_of_line_token=None)
    assert no_eos.framing.frame(["a", "b"]) == ["b", "a"]
    path = tmp_path / "lm.txt"
    path.write_text("a b\nc d e\n", encoding="utf-8")
    stream = [token for source, _ in windows(backward.read(str(path))) for token in source]
    assert stream == backward.framing.frame(["c", "d", "e"]) + backward.framing.frame(["a", "b"])[:-1]


# --- the tensor-native path: read_all's table gives exactly the batches of an Instance per window ----------
FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "data" / "tiny_lm"


class OracleReader(DatasetReader):
    """The string path, built independently: an Instance per window of the PyTorch example's layout."""

    def __init__(self, windows, reader):
        super().__init__()
        self.windows, self.reader = windows, reader

    def _read_files(self, file_paths):  # the windows of all the files together
        return (self.reader.text_to_instance(source, targets) for source, targets in self.windows)


def oracle_windows(texts, bptt, num_streams, reverse):
    """Windows of the files `texts` as the reader's docstring lays them out, from the example's batchify."""
    streams = [corpus_stream(text) for text in texts]
    if num_streams is None:  # each file its own stream
        return [w for stream in streams for w in pytorch_example_windows(stream[::-1] if reverse else stream, bptt, 1)]
    whole = [token for stream in streams for token in stream]
    return pytorch_example_windows(whole[::-1] if reverse else whole, bptt, num_streams)


def two_files(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    texts = [(FIXTURES / "valid.txt").read_text(encoding="utf-8"),
             "\n".join((FIXTURES / "test.txt").read_text(encoding="utf-8").splitlines()[:7]) + "\n"]
    for name, text in zip(("a.txt", "b.txt"), texts, strict=True):
        (folder / name).write_text(text, encoding="utf-8")
    return str(folder), texts


def loader_of(reader, path, **config):
    return Lazy(TrainingLoader, Params(config, "data_loader")).construct(reader=reader, data_path=path)


def assert_same_batches(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert list(x) == list(y) == ["source", "forward_targets"]
        for field in x:
            assert x[field].keys() == y[field].keys()
            for name in x[field]:
                for key, tensor in x[field][name].items():
                    other = y[field][name][key]
                    assert tensor.dtype == other.dtype == torch.int64 and torch.equal(tensor, other)


@pytest.mark.parametrize("num_streams, bptt", [(None, 7), (None, 35), (1, 5), (3, 4), (4, 35), (10, 1)])
@pytest.mark.parametrize("reverse", [False, True])
def test_table_batches_equal_the_instance_batches(tmp_path, num_streams, bptt, reverse):
    path, texts = two_files(tmp_path)
    reader = ContiguousLanguageModelingReader(bptt=bptt, num_streams=num_streams, reverse=reverse,
                                              cache_directory=str(tmp_path / "cache"))
    expected = oracle_windows(texts, bptt, num_streams, reverse)
    table = reader.read_all(path)
    assert isinstance(table, StreamWindows) and len(table) == len(expected)
    assert windows(table) == expected == windows(reader.read(path))
    oracle = OracleReader(expected, reader)
    assert table.num_tokens(range(len(table))) == [len(source) for source, _ in expected]
    counts, oracle_counts = {}, {}
    table.count_vocab_items(counts)
    InstanceList(list(oracle.read(path))).count_vocab_items(oracle_counts)
    assert counts == oracle_counts
    batch_size = num_streams or 4
    for config in ({"batch_size": batch_size}, {"batch_size": 5, "shuffle": True},
                   {"max_tokens": 40, "shuffle": True, "bucket_by_length": True}):
        lean, strings = loader_of(reader, path, **config), loader_of(oracle, path, **config)
        vocab = Vocabulary.from_instances([lean])  # the loader counts its table as a whole
        assert vocab == Vocabulary.from_instances(strings.iter_instances())
        lean.index_with(vocab)
        strings.index_with(vocab)
        for epoch in range(2):
            assert_same_batches(list(lean.iter_epoch(epoch)), list(strings.iter_epoch(epoch)))


def test_table_with_max_instances_and_short_streams(tmp_path):
    path, texts = two_files(tmp_path)
    for num_streams, limit in ((3, 7), (3, 1), (None, 50), (None, 5), (4, 10_000)):
        reader = ContiguousLanguageModelingReader(bptt=6, num_streams=num_streams, max_instances=limit,
                                                  cache_directory=str(tmp_path / "cache"))
        expected = oracle_windows(texts, 6, num_streams, False)[:limit]
        table = reader.read_all(path)
        assert windows(table) == expected == windows(reader.read(path))
        counts, oracle_counts = {}, {}
        table.count_vocab_items(counts)
        InstanceList(list(OracleReader(expected, reader).read(path))).count_vocab_items(oracle_counts)
        assert counts == oracle_counts
    short = tmp_path / "short.txt"
    short.write_text("a\n", encoding="utf-8")  # 2 tokens: one per stream, no window
    assert len(ContiguousLanguageModelingReader(num_streams=2, cache_directory=str(tmp_path)).read_all(str(short))) == 0
    short.write_text("a b c\n", encoding="utf-8")  # 4 tokens: streams [a b] [c <eos>], one 1-token window each
    table = ContiguousLanguageModelingReader(num_streams=2, cache_directory=str(tmp_path)).read_all(str(short))
    assert windows(table) == [(["a"], ["b"]), (["c"], ["<eos>"])]


def test_table_batches_with_workers_and_resumed_mid_epoch(tmp_path):
    path, _ = two_files(tmp_path)
    reader = ContiguousLanguageModelingReader(bptt=5, num_streams=4, cache_directory=str(tmp_path / "cache"))
    config = {"batch_size": 4, "batches_per_epoch": 9}
    straight = loader_of(reader, path, **config)
    vocab = Vocabulary.from_instances([straight])
    straight.index_with(vocab)
    epochs = [list(straight.iter_epoch(epoch)) for epoch in range(3)]
    assert 9 < len(reader.read_all(path)) // 4 < 27  # epochs continue the pass, then cross into the next
    for workers in (0, 2):
        loader = loader_of(reader, path, num_workers=workers, **config)
        loader.index_with(vocab)
        list(loader.iter_epoch(0))
        state = loader.state_dict()  # after epoch 0; resume epoch 1 from its batch 3
        resumed = loader_of(reader, path, num_workers=workers, **config)
        resumed.load_state_dict(state)
        resumed.index_with(vocab)
        assert_same_batches(list(resumed.iter_epoch(1, start=3)), epochs[1][3:])
        assert_same_batches(list(resumed.iter_epoch(2)), epochs[2])


def test_a_streaming_loader_counts_the_same_vocabulary_through_its_instances(tmp_path):
    path, _ = two_files(tmp_path)
    reader = ContiguousLanguageModelingReader(bptt=5, num_streams=4, cache_directory=str(tmp_path / "cache"))
    streaming = loader_of(reader, path, batch_size=4, max_instances_in_memory=8)
    in_memory = loader_of(reader, path, batch_size=4)
    counts, table_counts = {}, {}
    streaming.count_vocab_items(counts)  # the default: instance by instance
    in_memory.count_vocab_items(table_counts)  # the table, as a whole
    table = reader.read_all(path)
    assert counts == table_counts and sum(counts["tokens"].values()) == 2 * sum(table.num_tokens(range(len(table))))


def test_indexers_that_do_not_index_tokens_alone_get_an_instance_per_window(tmp_path):
    path, texts = two_files(tmp_path)
    framed = SingleIdTokenIndexer(start_tokens=["<s>"])
    assert SingleIdTokenIndexer().indexes_tokens_independently and not framed.indexes_tokens_independently
    assert not TokenCharactersIndexer().indexes_tokens_independently
    reader = ContiguousLanguageModelingReader(bptt=5, num_streams=2, token_indexers={"tokens": framed},
                                              cache_directory=str(tmp_path / "cache"))
    table = reader.read_all(path)
    assert isinstance(table, InstanceList) and windows(table) == oracle_windows(texts, 5, 2, False)


def test_a_second_read_comes_from_the_cache_and_reverse_shares_it(tmp_path, monkeypatch):
    path, texts = two_files(tmp_path)
    cache = tmp_path / "cache"
    forward = ContiguousLanguageModelingReader(bptt=5, num_streams=3, cache_directory=str(cache))
    expected = windows(forward.read_all(path))
    entries = sorted(p.suffix for p in cache.iterdir())
    assert entries == [".json", ".json", ".npy", ".npy"]  # one entry per file
    monkeypatch.setattr(ContiguousLanguageModelingReader, "_lines", None)  # tokenising again would fail
    assert windows(forward.read_all(path)) == expected
    backward = ContiguousLanguageModelingReader(bptt=5, num_streams=3, reverse=True, cache_directory=str(cache))
    table = backward.read_all(path)
    assert windows(table) == oracle_windows(texts, 5, 3, True)
    assert len(list(cache.iterdir())) == 4
    monkeypatch.undo()
    other = ContiguousLanguageModelingReader(bptt=5, end_of_line_token=None, cache_directory=str(cache))
    assert windows(other.read_all(path))[0][0] == texts[0].split()[:5]
    assert len(list(cache.iterdir())) == 8  # other settings: other entries
