"""`Tokenizer`: splits a text into a list of string tokens."""
from typing import List, Optional, Sequence

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

    special_tokens: Sequence[str] = ()
    """Tokens that are no words of the text (a pretrained model's "[CLS]", "[SEP]", "[PAD]", "<mask>"): this
    tokenizer adds them or keeps them whole where a text contains them, and predictors never propose them.
    None by default."""
    mask_token: Optional[str] = None
    """The token a masked language model of this tokenizer fills ("[MASK]", "<mask>"), kept whole where a text
    contains it; None when the tokenizer has none of its own (the default)."""

    def tokenize(self, text: str) -> List[str]:
        raise NotImplementedError

    def batch_tokenize(self, texts: List[str]) -> List[List[str]]:
        return [self.tokenize(text) for text in texts]

    def detokenize(self, tokens: List[str]) -> str:
        """A text of `tokens`: joined by single spaces here; sub-word tokenizers join their pieces back."""
        return " ".join(tokens)
