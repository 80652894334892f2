"""Character ids per token: a (T, C) array."""
from typing import Dict, List, Optional

import numpy as np
from overrides import overrides

from lmlab.common.constraints import NonNegativeInt
from lmlab.data.token_indexers.token_indexer import TokenIndexer, count_tokens
from lmlab.data.tokenizers.character import CharacterTokenizer
from lmlab.data.vocabulary import Vocabulary

_CHARACTER_TOKENIZER = CharacterTokenizer()  # the default: one shared instance (its settings never change)


@TokenIndexer.register("characters")
class TokenCharactersIndexer(TokenIndexer):
    """Each token becomes the vocabulary ids of its characters (for a character CNN or RNN).

    Registered as a `TokenIndexer` with name "characters".

    Parameters
        namespace: str = "token_characters"   vocabulary namespace of the characters.
        character_tokenizer: CharacterTokenizer = CharacterTokenizer()   splits one token into
            characters; its start/end tokens become per-word markers.
        start_tokens: Optional[List[str]] = None   whole tokens put before the sequence, then split into
            characters like any other token.
        end_tokens: Optional[List[str]] = None     whole tokens put after the sequence.
        min_padding_length: int = 0   C is at least this (a CNN with width-w filters needs C >= w).
    Inputs
        tokens: List[str] of length T.
    Outputs
        {"token_characters": (T + S + E, C) int64}, C = max(longest token in characters,
        min_padding_length); collated to (B, T_max, C_max) with 0 after each word and each sequence.
    """

    def __init__(self, namespace: str = "token_characters",
                 character_tokenizer: CharacterTokenizer = _CHARACTER_TOKENIZER,
                 start_tokens: Optional[List[str]] = None, end_tokens: Optional[List[str]] = None,
                 min_padding_length: NonNegativeInt = 0) -> None:
        self.namespace = namespace
        self.character_tokenizer = character_tokenizer
        self.start_tokens: List[str] = list(start_tokens or [])
        self.end_tokens: List[str] = list(end_tokens or [])
        self.min_padding_length = min_padding_length

    def _words(self, tokens: List[str]) -> List[List[str]]:
        if self.start_tokens or self.end_tokens:
            tokens = self.start_tokens + list(tokens) + self.end_tokens
        return self.character_tokenizer.batch_tokenize(tokens)

    @overrides
    def count_vocab_items(self, tokens: List[str], counter: Dict[str, Dict[str, int]]) -> None:
        for characters in self._words(tokens):
            count_tokens(counter, self.namespace, characters)

    @overrides
    def tokens_to_indices(self, tokens: List[str], vocab: Vocabulary) -> Dict[str, np.ndarray]:
        words = self._words(tokens)
        lengths = [len(characters) for characters in words]
        width = max(max(lengths, default=0), self.min_padding_length)
        out = np.zeros((len(words), width), dtype=np.int64)  # (T, C)
        if words:
            # one lookup for all characters of the sequence, then scatter them into their rows
            flat = vocab.get_token_indices([c for characters in words for c in characters], self.namespace)
            rows = np.repeat(np.arange(len(words)), lengths)
            starts = np.cumsum(lengths) - lengths
            columns = np.arange(len(flat)) - np.repeat(starts, lengths)
            out[rows, columns] = flat
        return {"token_characters": out}

    def __repr__(self) -> str:
        return (f"TokenCharactersIndexer(namespace={self.namespace!r}, start_tokens={self.start_tokens}, "
                f"end_tokens={self.end_tokens}, min_padding_length={self.min_padding_length})")
