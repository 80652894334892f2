"""The "conll" reader: columns, sentence boundaries, label codings, located errors, the seeded dev split."""
from pathlib import Path

import pytest

from lmlab.common.errors import ConfigurationError, InputError
from lmlab.common.params import Params
from lmlab.data import Batch, DatasetReader, Vocabulary

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "data" / "conll"
CONLL2003_LIKE = """-DOCSTART- -X- -X- O

EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC
call NN I-NP O
. . O O


Peter NNP I-NP I-PER
Blackburn NNP I-NP I-PER
-DOCSTART- -X- -X- O
BRUSSELS NNP I-NP I-LOC
"""


def reader(**config):
    return DatasetReader.from_params(Params({"type": "conll", **config}))


def words_and_tags(instances):
    return [(instance["tokens"].tokens, instance["tags"].labels) for instance in instances]


def test_conll2003_columns_documents_and_blank_lines(tmp_path):
    path = tmp_path / "ner.txt"
    path.write_text(CONLL2003_LIKE)
    instances = list(reader(label_column=3, coding_scheme="IOB1").read(str(path)))
    assert words_and_tags(instances) == [
        (["EU", "rejects", "German", "call", "."], ["I-ORG", "O", "I-MISC", "O", "O"]),
        (["Peter", "Blackburn"], ["I-PER", "I-PER"]),
        (["BRUSSELS"], ["I-LOC"])]
    assert instances[0]["metadata"]["words"] == ["EU", "rejects", "German", "call", "."]
    chunks = reader(label_column=2, coding_scheme="IOB1", convert_to_coding_scheme="BIO").read(str(path))
    assert [tags for _, tags in words_and_tags(chunks)][0] == ["B-NP", "B-VP", "B-NP", "I-NP", "O"]


def test_converts_codings_and_reads_unlabelled_data(tmp_path):
    path = tmp_path / "chunks.txt"
    path.write_text("the DT B-NP\nold JJ I-NP\ncat NN I-NP\nsleeps VBZ B-VP\n. . O\n")  # no blank line at the end
    bioes = reader(label_column=2, convert_to_coding_scheme="BIOES")
    assert words_and_tags(bioes.read(str(path))) == [
        (["the", "old", "cat", "sleeps", "."], ["B-NP", "I-NP", "E-NP", "S-VP", "O"])]
    assert bioes.output_coding_scheme == "BIOES" and reader().output_coding_scheme == "BIO"
    unlabelled, = reader(label_column=None).read(str(path))
    assert list(unlabelled.fields) == ["tokens", "metadata"]
    instance = bioes.text_to_instance(["a", "dog"], ["B-NP", "I-NP"])
    assert instance["tags"].labels == ["B-NP", "E-NP"]


def test_columns_are_split_on_spaces_and_tabs_only_and_crlf_line_ends_are_read(tmp_path):
    path = tmp_path / "chunks.txt"
    path.write_bytes("a\xa0b DT B-NP\r\nc\u2009d \t NN\tI-NP \r\n\r\n  e\u3000f  DT  B-NP\r\n".encode("utf-8"))
    # a non-breaking, thin or ideographic space is part of the word (str.split() would cut "a\xa0b" to "a")
    assert words_and_tags(reader().read(str(path))) == [(["a\xa0b", "c\u2009d"], ["B-NP", "I-NP"]),
                                                        (["e\u3000f"], ["B-NP"])]


@pytest.mark.parametrize("text,config,message,line", [
    ("a DT B-NP\nb NN\n", {}, "expected 3 columns, found 2", 2),
    ("a DT B-NP\n\nb NN I-NP x\n", {}, "expected 3 columns, found 4", 3),
    ("a DT B-NP\n", {"num_columns": 4}, "expected 4 columns, found 3", 1),
    ("a DT B-NP\nb NN S-NP\n", {}, 'label "S-NP" is not valid in the BIO coding (expected O, B-TYPE, I-TYPE)', 2),
    ("a DT\n", {"label_column": 2}, "column 2 does not exist: the first token line has 2 columns", 1),
    ("a DT B-NP\rb NN I-NP\r\r", {}, "carriage return inside a line (expected LF or CRLF line ends)", 1),
    ("a DT B-NP\nb NN\rI-NP\n", {}, "carriage return inside a line (expected LF or CRLF line ends)", 2),
])
def test_ill_formed_lines_are_errors_naming_file_and_line(tmp_path, text, config, message, line):
    path = tmp_path / "bad.txt"
    path.write_bytes(text.encode("utf-8"))  # as written: no newline translation
    with pytest.raises(InputError) as info:
        list(reader(**config).read(str(path)))
    assert info.value.lines() == [f"input error at {path}:{line}: {message}"]


def test_bad_configs_are_config_errors():
    with pytest.raises(ConfigurationError, match="column 5 does not exist in lines of 3 columns"):
        reader(num_columns=3, label_column=5)
    with pytest.raises(ConfigurationError, match="coding_scheme"):
        reader(coding_scheme="BILOU")


def test_dev_split_is_fixed_seeded_disjoint_and_only_for_its_source(tmp_path):
    train = str(FIXTURES / "train.txt")
    everything = [tuple(words) for words, _ in words_and_tags(reader().read(train))]

    def part(name, seed=13):
        split = {"source": train, "sentences": 10, "part": name, "seed": seed}
        return [tuple(words) for words, _ in words_and_tags(reader(dev_split=split).read(train))]

    dev, rest = part("dev"), part("train")
    assert len(dev) == 10 and len(rest) == len(everything) - 10
    assert sorted(dev + rest) == sorted(everything)
    assert part("dev") == dev and part("dev", seed=14) != dev
    remaining = iter(everything)  # each part keeps the file's order: it is a subsequence of the file
    assert all(any(sentence == other for other in remaining) for sentence in dev)
    other = str(FIXTURES / "test.txt")
    split = {"source": train, "sentences": 10, "part": "dev"}
    assert len(list(reader(dev_split=split).read(other))) == len(list(reader().read(other)))
    with pytest.raises(InputError, match="cannot hold out 1000 sentences for development: the file has only 60"):
        list(reader(dev_split={**split, "sentences": 1000}).read(train))
    with pytest.raises(InputError, match="does not exist"):
        list(reader(dev_split={**split, "source": str(tmp_path / "missing.txt")}).read(train))


def test_instances_batch_into_token_ids_and_label_ids():
    instances = list(reader(label_column=2, max_instances=3).read(str(FIXTURES / "valid.txt")))
    vocab = Vocabulary.from_instances(instances)
    assert not vocab.is_padded("labels")
    batch = Batch(instances)
    batch.index_instances(vocab)
    tensors = batch.as_tensor_dict()
    lengths = [len(instance["tokens"]) for instance in instances]
    assert tensors["tags"].shape == tensors["tokens"]["tokens"]["tokens"].shape == (3, max(lengths))
    first = [vocab.get_token_from_index(i, "labels") for i in tensors["tags"][0, :lengths[0]].tolist()]
    assert first == instances[0]["tags"].labels
