from typing import List

from lmlab.data import Tokenizer


class ReversingTokenizer(Tokenizer):  # deliberately not registered
    def tokenize(self, text: str) -> List[str]:
        return text.split()[::-1]


def test_default_batch_tokenize_calls_tokenize_per_text():
    assert ReversingTokenizer().batch_tokenize(["a b", "c"]) == [["b", "a"], ["c"]]


def test_registered_names():
    assert Tokenizer.list_available() == ["whitespace", "character", "pretrained_transformer", "spacy"]
