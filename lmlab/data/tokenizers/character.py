"""Character tokenizer: every character becomes a token."""
from typing import List, Optional

from overrides import overrides

from lmlab.data.tokenizers.tokenizer import Tokenizer


@Tokenizer.register("character")
class CharacterTokenizer(Tokenizer):
    """Splits a text into its characters (Unicode code points), optionally framed by marker tokens.

    Registered as a `Tokenizer` with name "character".

    Parameters
        lowercase: bool = False                  lowercase the text first.
        start_tokens: Optional[List[str]] = None tokens put before the characters (e.g. a begin-of-word
                                                 marker "<w>"); kept whole, never split or lowercased.
        end_tokens: Optional[List[str]] = None   tokens put after the characters.
    Inputs
        text: str
    Outputs
        List[str]: start_tokens + one token per character (spaces included) + end_tokens.
        "Hi!" -> ["H", "i", "!"].
    Notes
        `TokenCharactersIndexer` uses this to split each word; the start/end tokens then act as
        per-word boundary markers.
    """

    def __init__(self, lowercase: bool = False, start_tokens: Optional[List[str]] = None,
                 end_tokens: Optional[List[str]] = None) -> None:
        self.lowercase = lowercase
        self.start_tokens: List[str] = list(start_tokens or [])
        self.end_tokens: List[str] = list(end_tokens or [])

    @overrides
    def tokenize(self, text: str) -> List[str]:
        characters = list(text.lower() if self.lowercase else text)
        if self.start_tokens or self.end_tokens:
            return self.start_tokens + characters + self.end_tokens
        return characters

    def __repr__(self) -> str:
        return (f"CharacterTokenizer(lowercase={self.lowercase}, start_tokens={self.start_tokens}, "
                f"end_tokens={self.end_tokens})")
