from lmlab.common import Params
from lmlab.data import CharacterTokenizer, Tokenizer


def test_characters_lowercase_and_markers():
    assert CharacterTokenizer().tokenize("Hi, é!") == ["H", "i", ",", " ", "é", "!"]
    tokenizer = Tokenizer.from_params(Params({"type": "character", "lowercase": True,
                                              "start_tokens": ["<w>"], "end_tokens": ["</w>"]}))
    assert tokenizer.tokenize("AbC") == ["<w>", "a", "b", "c", "</w>"]
    assert tokenizer.tokenize("") == ["<w>", "</w>"]
    assert tokenizer.batch_tokenize(["X", "yz"]) == [["<w>", "x", "</w>"], ["<w>", "y", "z", "</w>"]]
