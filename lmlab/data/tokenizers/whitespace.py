"""Whitespace tokenizer: `str.split()`."""
from typing import List

from overrides import overrides

from lmlab.data.tokenizers.tokenizer import Tokenizer


@Tokenizer.register("whitespace")
class WhitespaceTokenizer(Tokenizer):
    """Splits on runs of whitespace (`str.split()`), for text that is already tokenized.

    Registered as a `Tokenizer` with name "whitespace" (the default).

    Parameters
        (none)
    Inputs
        text: str
    Outputs
        List[str]: the non-empty whitespace-separated pieces, in order.
    """

    @overrides
    def tokenize(self, text: str) -> List[str]:
        return text.split()

    @overrides
    def batch_tokenize(self, texts: List[str]) -> List[List[str]]:
        return [text.split() for text in texts]

    def __repr__(self) -> str:
        return "WhitespaceTokenizer()"
