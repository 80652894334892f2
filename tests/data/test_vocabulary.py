import os

import numpy as np
import pytest

from lmlab.common import ArchiveError, ConfigurationError, InputError, Params, to_params
from lmlab.common.from_params import validate
from lmlab.data import Instance, SingleIdTokenIndexer, TextField, Vocabulary
from lmlab.data.vocabulary import DEFAULT_OOV_TOKEN, DEFAULT_PADDING_TOKEN

PAD, OOV = DEFAULT_PADDING_TOKEN, DEFAULT_OOV_TOKEN


def tokens_of(vocab, namespace="tokens"):
    size = vocab.get_vocab_size(namespace)
    return [vocab.get_token_from_index(i, namespace) for i in range(size)]


def test_order_is_count_descending_then_token_ascending():
    vocab = Vocabulary(counter={"tokens": {"b": 2, "a": 2, "c": 5, "d": 1, "B": 2}})
    assert tokens_of(vocab) == [PAD, OOV, "c", "B", "a", "b", "d"]
    assert vocab.get_token_to_index_vocabulary() == {PAD: 0, OOV: 1, "c": 2, "B": 3, "a": 4, "b": 5, "d": 6}
    assert vocab.get_index_to_token_vocabulary() == {0: PAD, 1: OOV, 2: "c", 3: "B", 4: "a", 5: "b", 6: "d"}


def test_min_count_and_max_vocab_size():
    counter = {"tokens": {"b": 2, "a": 2, "c": 5, "d": 1}, "chars": {"x": 3, "y": 1}}
    assert tokens_of(Vocabulary(counter=counter, min_count={"tokens": 2})) == [PAD, OOV, "c", "a", "b"]
    vocab = Vocabulary(counter=counter, max_vocab_size=2)
    assert tokens_of(vocab) == [PAD, OOV, "c", "a"]
    assert tokens_of(vocab, "chars") == [PAD, OOV, "x", "y"]
    vocab = Vocabulary(counter=counter, max_vocab_size={"chars": 1})
    assert tokens_of(vocab) == [PAD, OOV, "c", "a", "b", "d"]
    assert tokens_of(vocab, "chars") == [PAD, OOV, "x"]


def test_min_count_for_an_unknown_namespace_is_a_config_error_with_suggestion():
    with pytest.raises(ConfigurationError) as info:
        Vocabulary(counter={"tokens": {"a": 1}}, min_count={"token": 2})
    assert info.value.problems[0][0] == "min_count.token"
    assert 'did you mean "tokens"' in str(info.value)


def test_non_padded_namespaces_have_no_padding_or_oov():
    vocab = Vocabulary(counter={"labels": {"pos": 3, "neg": 1}, "pos_tags": {"NN": 2}, "tokens": {"x": 1}})
    assert tokens_of(vocab, "labels") == ["pos", "neg"]
    assert tokens_of(vocab, "pos_tags") == ["NN"]
    assert not vocab.is_padded("labels") and not vocab.is_padded("pos_tags") and vocab.is_padded("tokens")
    with pytest.raises(InputError, match='unknown token "neutral" in non-padded vocabulary namespace "labels"'):
        vocab.get_token_index("neutral", "labels")
    with pytest.raises(InputError, match='"nue"'):
        vocab.get_token_indices(["pos", "nue"], "labels")
    np.testing.assert_array_equal(vocab.get_token_indices(["neg", "pos"], "labels"), [1, 0])
    custom = Vocabulary(counter={"labels": {"a": 1}}, non_padded_namespaces=["my_*"])
    assert custom.is_padded("labels") and not custom.is_padded("my_things")


def test_oov_and_fast_path_indices():
    vocab = Vocabulary(counter={"tokens": {"the": 3, "cat": 2}})
    assert vocab.get_token_index("cat") == 3
    assert vocab.get_token_index("dog") == 1
    indices = vocab.get_token_indices(["the", "dog", "cat", "the"])
    assert indices.dtype == np.int64
    np.testing.assert_array_equal(indices, [2, 1, 3, 2])
    assert vocab.get_token_indices([]).shape == (0,)


def test_tokens_to_add_come_first_and_are_not_duplicated():
    vocab = Vocabulary(counter={"tokens": {"a": 1, "<S>": 9}}, tokens_to_add={"tokens": ["<S>", "</S>"]})
    assert tokens_of(vocab) == [PAD, OOV, "<S>", "</S>", "a"]


def test_add_tokens_and_lookups():
    vocab = Vocabulary()
    assert vocab.get_vocab_size() == 2  # padding and OOV of the created namespace
    assert vocab.add_token_to_namespace("x") == 2
    assert vocab.add_token_to_namespace("x") == 2
    assert vocab.add_tokens_to_namespace(["y", "x"], "tokens") == [3, 2]
    assert vocab.add_token_to_namespace("B-NP", "chunk_tags") == 0
    assert vocab.get_namespaces() == ["chunk_tags", "tokens"]
    assert repr(vocab) == "Vocabulary(chunk_tags: 1 (non-padded), tokens: 4)"
    with pytest.raises(InputError, match="index 4 is out of range"):
        vocab.get_token_from_index(4)
    with pytest.raises(TypeError, match="vocabulary tokens must be str, got int 5"):
        vocab.add_token_to_namespace(5)


def test_equality_ignores_namespaces_holding_only_specials():
    a = Vocabulary(counter={"tokens": {"x": 1}})
    b = Vocabulary(counter={"tokens": {"x": 1}})
    b.get_vocab_size("token_characters")  # creates an empty padded namespace
    assert a == b
    b.add_token_to_namespace("y")
    assert a != b


def test_padding_and_oov_must_differ():
    for config in ({"type": "empty"}, {"type": "from_instances"}, {"type": "from_files", "directory": "no/such"}):
        with pytest.raises(ConfigurationError, match="at vocabulary.oov_token: padding_token and oov_token must"):
            validate(Vocabulary, {**config, "padding_token": "@", "oov_token": "@"}, "vocabulary", ("instances",))


ODD_TOKENS = ["hello world", "naïve", "日本語", "line\nbreak", "back\\slash", "\\n", "", "cr\rx", "sep\u2028x",
              " lead", "tab\there", "🙂"]


def test_save_and_load_round_trip_with_odd_tokens(tmp_path):
    vocab = Vocabulary(counter={"tokens": {t: 2 for t in ODD_TOKENS}, "labels": {"a b": 1, "c\nd": 1}},
                       tokens_to_add={"token_characters": ["x"]})
    directory = tmp_path / "vocab"
    vocab.save_to_files(str(directory))
    assert sorted(os.listdir(directory)) == ["frequency_sorted_namespaces.txt", "labels.txt",
                                             "non_padded_namespaces.txt", "token_characters.txt",
                                             "tokens.txt"]  # and no temporary files left behind
    assert (directory / "non_padded_namespaces.txt").read_text(encoding="utf-8") == "*tags\n*labels\n"
    assert (directory / "labels.txt").read_text(encoding="utf-8") == "a b\nc\\nd\n"
    assert (directory / "token_characters.txt").read_text(encoding="utf-8") == f"{PAD}\n{OOV}\nx\n"
    loaded = Vocabulary.from_files(str(directory))
    assert loaded == vocab
    for token in ODD_TOKENS:
        assert loaded.get_token_index(token) == vocab.get_token_index(token) > 1
    assert loaded.get_token_index("c\nd", "labels") == 1
    assert loaded.get_vocab_size() == len(ODD_TOKENS) + 2


def test_from_files_accepts_a_hand_written_token_list(tmp_path):
    (tmp_path / "non_padded_namespaces.txt").write_text("*labels\n", encoding="utf-8")
    (tmp_path / "tokens.txt").write_text("the\r\ncat\r\n", encoding="utf-8")
    (tmp_path / "labels.txt").write_text("pos\nneg\n", encoding="utf-8")
    (tmp_path / "README.md").write_text("ignored", encoding="utf-8")
    vocab = Vocabulary.from_params(Params({"type": "from_files", "directory": str(tmp_path)}))
    assert tokens_of(vocab) == [PAD, OOV, "the", "cat"]
    assert tokens_of(vocab, "labels") == ["pos", "neg"]


def test_from_files_errors_name_the_path(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(ConfigurationError) as info:
        Vocabulary.from_params(Params({"type": "from_files", "directory": str(missing)}, "vocabulary"))
    assert str(missing) in str(info.value) and info.value.problems[0][0] == "vocabulary"
    with pytest.raises(ArchiveError, match="not a vocabulary directory"):
        Vocabulary.from_files(str(tmp_path))
    (tmp_path / "non_padded_namespaces.txt").write_text("", encoding="utf-8")
    (tmp_path / "tokens.txt").write_text("a\nb\na\n", encoding="utf-8")
    with pytest.raises(ArchiveError, match=f'{tmp_path / "tokens.txt"}: token "a" appears twice'):
        Vocabulary.from_files(str(tmp_path))
    (tmp_path / "tokens.txt").write_text(f"a\n{OOV}\n", encoding="utf-8")
    with pytest.raises(ArchiveError, match="must be on line 2"):
        Vocabulary.from_files(str(tmp_path))
    (tmp_path / "tokens.txt").write_bytes(b"a\n\xff\n")
    with pytest.raises(ArchiveError, match="not valid UTF-8"):
        Vocabulary.from_files(str(tmp_path))


def test_namespace_that_cannot_be_a_file_name(tmp_path):
    vocab = Vocabulary(tokens_to_add={"non_padded_namespaces": ["x"]})
    with pytest.raises(ConfigurationError, match="cannot be saved"):
        vocab.save_to_files(str(tmp_path))


def make_instances():
    indexers = {"tokens": SingleIdTokenIndexer()}
    return [Instance({"source": TextField(t.split(), indexers)}) for t in ["the cat sat", "the dog sat", "a cat"]]


def test_from_instances_is_the_default_and_takes_instances_at_run_time():
    vocab = Vocabulary.from_params(Params({"min_count": {"tokens": 2}}), instances=make_instances())
    assert tokens_of(vocab) == [PAD, OOV, "cat", "sat", "the"]
    assert to_params(vocab) == {"type": "from_instances", "min_count": {"tokens": 2}, "max_vocab_size": None,
                                "non_padded_namespaces": ["*tags", "*labels"], "tokens_to_add": None,
                                "padding_token": PAD, "oov_token": OOV}
    with pytest.raises(ConfigurationError, match="set by lmlab at run time"):
        Vocabulary.from_params(Params({"instances": []}), instances=make_instances())


def test_registered_names():
    assert Vocabulary.list_available() == ["from_instances", "empty", "from_files", "from_pretrained_transformer"]
    empty = Vocabulary.from_params(Params({"type": "empty", "tokens_to_add": {"tokens": ["<S>"]}}))
    assert tokens_of(empty) == [PAD, OOV, "<S>"]


def test_namespaces_built_from_counts_are_recorded_as_frequency_sorted():
    counter = {"tokens": {"b": 2, "a": 2, "c": 5, "d": 1}, "labels": {"x": 1, "y": 3}}
    vocab = Vocabulary(counter=counter, tokens_to_add={"tokens": ["<S>"], "extra": ["q"]}, max_vocab_size=3)
    assert tokens_of(vocab) == [PAD, OOV, "<S>", "c", "a", "b"]  # tokens_to_add keep their place up front
    assert vocab.is_frequency_sorted("tokens") and vocab.is_frequency_sorted("labels")
    assert not vocab.is_frequency_sorted("extra")  # no counts: its order says nothing about frequency
    vocab.add_token_to_namespace("c")  # already there: nothing changes
    assert vocab.is_frequency_sorted("tokens")
    vocab.add_token_to_namespace("zebra")  # appended with an unknown frequency
    assert not vocab.is_frequency_sorted("tokens") and vocab.is_frequency_sorted("labels")
    by_hand = Vocabulary()
    by_hand.add_tokens_to_namespace(["rare", "common"])
    assert not by_hand.is_frequency_sorted("tokens")
    assert Vocabulary.from_params(Params({}), instances=make_instances()).is_frequency_sorted("tokens")


def test_frequency_sorted_namespaces_are_saved_and_loaded(tmp_path):
    vocab = Vocabulary(counter={"tokens": {"b": 2, "c": 5}, "labels": {"x": 1}}, tokens_to_add={"chars": ["z"]})
    vocab.save_to_files(str(tmp_path / "vocab"))
    assert (tmp_path / "vocab" / "frequency_sorted_namespaces.txt").read_text(encoding="utf-8") == "labels\ntokens\n"
    loaded = Vocabulary.from_files(str(tmp_path / "vocab"))
    assert loaded == vocab
    assert loaded.is_frequency_sorted("tokens") and loaded.is_frequency_sorted("labels")
    assert not loaded.is_frequency_sorted("chars")
    # a directory without the record (older, or hand-written) vouches for nothing
    (tmp_path / "vocab" / "frequency_sorted_namespaces.txt").unlink()
    assert not Vocabulary.from_files(str(tmp_path / "vocab")).is_frequency_sorted("tokens")
    with pytest.raises(ConfigurationError, match="cannot be saved"):
        Vocabulary(tokens_to_add={"frequency_sorted_namespaces": ["x"]}).save_to_files(str(tmp_path / "other"))
