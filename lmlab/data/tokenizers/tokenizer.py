"""`Tokenizer`: splits a text into a list of string tokens."""
from typing import List

from lmlab.common.registrable import Registrable


class Tokenizer(Registrable):
    """Splits text into tokens (plain `str`s); the base class of every tokenizer.

    Implementations override `tokenize`, and `batch_tokenize` when they can do a batch faster than one
    text at a time (spaCy's `nlp.pipe`). Tokenizers hold no per-text state, so one object can be shared
    by several readers and sent to data-loader workers.

    Inputs
        text: str (tokenize) or a list of B texts (batch_tokenize).
    Outputs
        List[str] tokens, or B such lists in the input order. Tokens are never empty strings.
    """

    default_implementation = "whitespace"

    def tokenize(self, text: str) -> List[str]:
        raise NotImplementedError

    def batch_tokenize(self, texts: List[str]) -> List[List[str]]:
        return [self.tokenize(text) for text in texts]
