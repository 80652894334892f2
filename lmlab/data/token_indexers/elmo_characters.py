"""ELMo character ids: every token becomes exactly 50 integers (and the indexer that produces them).

A token's UTF-8 bytes (at most 48 of them) are wrapped in begin-of-word / end-of-word markers and padded
with an in-word padding id; then every id is shifted by +1 so that 0 is free for whole padding tokens.
The strings "<S>" and "</S>" get their own encodings (the sentence-boundary characters). These are the
ids the pretrained ELMo character CNN was trained on, so they must not change.

The encoding is pure Python and lives in the data layer so that the indexer can use it; the tensor
helper `batch_to_ids` (in `lmlab.modules.elmo`) builds on the same functions. Nothing here adds
"<S>"/"</S>" to a sentence: the pretrained biLM does that itself, and a reader does it for an LM.
"""
from functools import lru_cache
from typing import Dict, List, Sequence, Tuple

import numpy as np
from overrides import overrides

from lmlab.data.token_indexers.token_indexer import TokenIndexer
from lmlab.data.vocabulary import Vocabulary

MAX_WORD_LENGTH = 50
"""Ids per token, markers included."""

# Raw ids before the +1 shift: bytes are 0..255, then five special characters.
BEGINNING_OF_SENTENCE_CHARACTER = 256
END_OF_SENTENCE_CHARACTER = 257
BEGINNING_OF_WORD_CHARACTER = 258
END_OF_WORD_CHARACTER = 259
PADDING_CHARACTER = 260

NUM_CHARACTERS = 262
"""Size of the id space after the shift: 0 (padding token) .. 261 (in-word padding)."""

PADDING_TOKEN_ID = 0
"""Every one of the 50 ids of a padding token."""

BOS_TOKEN = "<S>"
EOS_TOKEN = "</S>"


def _make_char_ids(middle: Sequence[int]) -> Tuple[int, ...]:
    """`[bow, *middle, eow, pad, ...]` (50 ids) with the +1 shift applied."""
    raw = [BEGINNING_OF_WORD_CHARACTER, *middle, END_OF_WORD_CHARACTER]
    raw += [PADDING_CHARACTER] * (MAX_WORD_LENGTH - len(raw))
    return tuple(c + 1 for c in raw)


BOS_CHAR_IDS: Tuple[int, ...] = _make_char_ids([BEGINNING_OF_SENTENCE_CHARACTER])
"""Shifted ids of "<S>": `[259, 257, 260, 261, ...]`."""
EOS_CHAR_IDS: Tuple[int, ...] = _make_char_ids([END_OF_SENTENCE_CHARACTER])
"""Shifted ids of "</S>": `[259, 258, 260, 261, ...]`."""
PADDING_CHAR_IDS: Tuple[int, ...] = (PADDING_TOKEN_ID,) * MAX_WORD_LENGTH


@lru_cache(maxsize=100_000)
def cached_char_ids(word: str) -> Tuple[int, ...]:
    """The 50 shifted ids of `word` as an immutable tuple (cached: real text repeats words constantly)."""
    if word == BOS_TOKEN:
        return BOS_CHAR_IDS
    if word == EOS_TOKEN:
        return EOS_CHAR_IDS
    # Truncation is byte-wise (it may cut a multi-byte character), exactly as the pretrained model saw it.
    encoded = word.encode("utf-8", "ignore")[: MAX_WORD_LENGTH - 2]
    return _make_char_ids(encoded)


def word_to_char_ids(word: str) -> List[int]:
    """The 50 shifted character ids of one token (all in 1..261)."""
    return list(cached_char_ids(word))


def tokens_to_char_ids(tokens: Sequence[str]) -> List[List[int]]:
    """`word_to_char_ids` for each token: `len(tokens)` lists of 50 ids. No boundaries are added."""
    return [list(cached_char_ids(token)) for token in tokens]


@TokenIndexer.register("elmo_characters")
class ElmoTokenCharactersIndexer(TokenIndexer):
    """Each token becomes the 50 fixed ELMo character ids (bytes + markers), with no vocabulary.

    Registered as a `TokenIndexer` with name "elmo_characters".

    Parameters
        namespace: str = "elmo_characters"   kept for AllenNLP configs; nothing is counted or looked up,
                                             because the ids are fixed by the encoding.
    Inputs
        tokens: List[str] of length T ("<S>" and "</S>" get the sentence-boundary encodings).
    Outputs
        {"elmo_tokens": (T, 50) int64}, identical to a row of `lmlab.modules.elmo.batch_to_ids`;
        collated to (B, T_max, 50) with all-zero padding tokens after each sequence.
    """

    def __init__(self, namespace: str = "elmo_characters") -> None:
        self.namespace = namespace

    @overrides
    def tokens_to_indices(self, tokens: List[str], vocab: Vocabulary) -> Dict[str, np.ndarray]:
        ids = np.array([cached_char_ids(token) for token in tokens], dtype=np.int64)  # (T, 50)
        return {"elmo_tokens": ids.reshape(len(tokens), MAX_WORD_LENGTH)}  # reshape: T = 0 gives (0, 50)

    def __repr__(self) -> str:
        return f"ElmoTokenCharactersIndexer(namespace={self.namespace!r})"
