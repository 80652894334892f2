"""ELMo character ids: every token becomes exactly 50 integers.

A token's UTF-8 bytes (at most 48 of them) are wrapped in begin-of-word / end-of-word markers and padded
with an in-word padding id; then every id is shifted by +1 so that 0 is free for whole padding tokens.
The strings "<S>" and "</S>" get their own encodings (the sentence-boundary characters). These are the
ids the pretrained ELMo character CNN was trained on, so they must not change.

Nothing here adds "<S>"/"</S>" to a sentence: the model does that itself.
"""
from functools import lru_cache
from typing import List, Sequence, Tuple

import torch

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
def _cached_char_ids(word: str) -> Tuple[int, ...]:
    # Cached because real text repeats words constantly; tuples keep the cache immutable.
    if word == BOS_TOKEN:
        return BOS_CHAR_IDS
    if word == EOS_TOKEN:
        return EOS_CHAR_IDS
    # Truncation is byte-wise (it may cut a multi-byte character), exactly as the pretrained model saw it.
    encoded = word.encode("utf-8", "ignore")[: MAX_WORD_LENGTH - 2]
    return _make_char_ids(encoded)


def word_to_char_ids(word: str) -> List[int]:
    """The 50 shifted character ids of one token (all in 1..261)."""
    return list(_cached_char_ids(word))


def tokens_to_char_ids(tokens: Sequence[str]) -> List[List[int]]:
    """`word_to_char_ids` for each token: `len(tokens)` lists of 50 ids. No boundaries are added."""
    return [list(_cached_char_ids(token)) for token in tokens]


def batch_to_ids(batch: Sequence[Sequence[str]]) -> torch.Tensor:
    """Character ids of a batch of tokenized sentences, right-padded with all-zero tokens.

    Inputs
        batch: B sentences, each a list of token strings (may be empty).
    Outputs
        (B, T, 50) int64 with T the longest sentence; padding tokens are all 0.
    """
    lengths = [len(sentence) for sentence in batch]
    num_rows, max_len = len(batch), max(lengths, default=0)
    ids = torch.zeros(num_rows, max_len, MAX_WORD_LENGTH, dtype=torch.long)  # (B, T, 50)
    flat_ids = [_cached_char_ids(token) for sentence in batch for token in sentence]
    if not flat_ids:
        return ids
    # Row-major positions of the real tokens, so all of them go in with one indexed copy.
    positions = [row * max_len + t for row, length in enumerate(lengths) for t in range(length)]
    ids.view(num_rows * max_len, MAX_WORD_LENGTH)[torch.tensor(positions)] = torch.tensor(flat_ids)
    return ids
