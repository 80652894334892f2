import pickle

import pytest

from lmlab.common import ConfigurationError, Params
from lmlab.data import SpacyTokenizer, Tokenizer, WhitespaceTokenizer

SENTENCE = "Don't stop, Mr. Smith!"


def test_rule_based_english_tokenization_differs_from_whitespace():
    tokenizer = Tokenizer.from_params(Params({"type": "spacy"}))
    assert tokenizer.tokenize(SENTENCE) == ["Do", "n't", "stop", ",", "Mr.", "Smith", "!"]
    assert WhitespaceTokenizer().tokenize(SENTENCE) == ["Don't", "stop,", "Mr.", "Smith!"]


def test_lowercase_batch_and_spaces():
    tokenizer = SpacyTokenizer(lowercase=True)
    texts = [SENTENCE, "", "two  spaces \n and a newline"]
    expected = [["do", "n't", "stop", ",", "mr.", "smith", "!"], [], ["two", "spaces", "and", "a", "newline"]]
    assert tokenizer.batch_tokenize(texts) == expected
    assert [tokenizer.tokenize(text) for text in texts] == expected


def test_pickles_without_the_pipeline():
    tokenizer = SpacyTokenizer(language="en")
    tokenizer.tokenize("warm up")
    copy = pickle.loads(pickle.dumps(tokenizer))
    assert len(pickle.dumps(tokenizer)) < 500
    assert copy.tokenize("It's fine.") == ["It", "'s", "fine", "."]


def test_unknown_language_is_a_config_error():
    with pytest.raises(ConfigurationError, match='spaCy has no language "qq"'):
        SpacyTokenizer(language="qq").tokenize("x")
