import random

import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset

from lmlab.common import ConfigurationError, Params
from lmlab.data import Batch, ContiguousLanguageModelingReader, DatasetReader, Vocabulary


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
