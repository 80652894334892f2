import os

import pytest

from lmlab.common import ConfigurationError, Params, to_params
from lmlab.data import Batch, DatasetReader, SimpleLanguageModelingDatasetReader, SpacyTokenizer, Vocabulary

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "data", "tiny_lm")


def sources(instances):
    return [instance["source"].tokens for instance in instances]


def test_one_sentence_per_line_blank_lines_skipped(tmp_path):
    path = tmp_path / "lm.txt"
    path.write_text("the cat sat .\n\n   \n  a dog  \nend\n", encoding="utf-8")
    reader = DatasetReader.from_params(Params({"type": "simple_language_modeling"}))
    instances = list(reader.read(str(path)))
    assert sources(instances) == [["the", "cat", "sat", "."], ["a", "dog"], ["end"]]
    assert list(instances[0].fields) == ["source"]
    assert list(instances[0]["source"].token_indexers) == ["tokens"]


def test_truncation_counts_start_and_end_tokens(tmp_path):
    path = tmp_path / "lm.txt"
    path.write_text("a b c d e\nx y\nx y z\n", encoding="utf-8")
    reader = SimpleLanguageModelingDatasetReader(max_sequence_length=4, start_tokens=["<S>"], end_tokens=["</S>"])
    assert sources(reader.read(str(path))) == [["<S>", "a", "b", "</S>"], ["<S>", "x", "y", "</S>"],
                                              ["<S>", "x", "y", "</S>"]]
    assert sources([reader.text_to_instance("p q r")]) == [["<S>", "p", "q", "</S>"]]
    assert sources([SimpleLanguageModelingDatasetReader(max_sequence_length=2).text_to_instance("p q r")]) == [
        ["p", "q"]]


def test_max_sequence_length_must_leave_room_for_a_token():
    with pytest.raises(ConfigurationError) as info:
        DatasetReader.from_params(Params({"type": "simple_language_modeling", "max_sequence_length": 2,
                                          "start_tokens": ["<S>"], "end_tokens": ["</S>"]}, "reader"))
    assert info.value.problems[0][0] == "reader.max_sequence_length"
    assert "expected more than 2" in str(info.value)


def test_spacy_tokenizer_from_config_and_filled_config(tmp_path):
    path = tmp_path / "lm.txt"
    path.write_text("Don't stop, Mr. Smith!\n", encoding="utf-8")
    reader = DatasetReader.from_params(Params({"type": "simple_language_modeling",
                                               "tokenizer": {"type": "spacy", "lowercase": True}}))
    assert isinstance(reader.tokenizer, SpacyTokenizer)
    assert sources(reader.read(str(path))) == [["do", "n't", "stop", ",", "mr.", "smith", "!"]]
    assert to_params(reader)["tokenizer"] == {"type": "spacy", "language": "en", "lowercase": True}


def test_tiny_lm_fixture_end_to_end():
    reader = SimpleLanguageModelingDatasetReader(start_tokens=["<S>"], end_tokens=["</S>"])
    train = list(reader.read(os.path.join(FIXTURES, "train.txt")))
    assert len(train) == 300
    assert len(list(reader.read(os.path.join(FIXTURES, "valid.txt")))) == 40
    assert len(list(reader.read(os.path.join(FIXTURES, "test.txt")))) == 40
    vocab = Vocabulary.from_instances(train)
    assert vocab.get_vocab_size() == 2 + 233 + 2  # padding, OOV, 233 word types, <S> and </S>
    batch = Batch(train[:8])
    batch.index_instances(vocab)
    tokens = batch.as_tensor_dict()["source"]["tokens"]["tokens"]
    assert tokens.shape == (8, max(len(instance["source"]) for instance in train[:8]))
    assert (tokens[:, 0] == vocab.get_token_index("<S>")).all()
