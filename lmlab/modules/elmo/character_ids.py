"""ELMo character ids as tensors: `batch_to_ids`.

The per-token encoding (every token -> exactly 50 ids; see `lmlab.data.token_indexers.elmo_characters`)
lives in the data layer, where the "elmo_characters" token indexer uses it; it is re-exported here so
that `lmlab.modules.elmo` stays the one public place for ELMo. Nothing here adds "<S>"/"</S>" to a
sentence: the model does that itself.
"""
from typing import Sequence

import torch

from lmlab.data.token_indexers.elmo_characters import (  # noqa: F401  (re-exported)
    BEGINNING_OF_SENTENCE_CHARACTER,
    BEGINNING_OF_WORD_CHARACTER,
    BOS_CHAR_IDS,
    BOS_TOKEN,
    END_OF_SENTENCE_CHARACTER,
    END_OF_WORD_CHARACTER,
    EOS_CHAR_IDS,
    EOS_TOKEN,
    MAX_WORD_LENGTH,
    NUM_CHARACTERS,
    PADDING_CHAR_IDS,
    PADDING_CHARACTER,
    PADDING_TOKEN_ID,
    cached_char_ids,
    tokens_to_char_ids,
    word_to_char_ids,
)


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
    flat_ids = [cached_char_ids(token) for sentence in batch for token in sentence]
    if not flat_ids:
        return ids
    # Row-major positions of the real tokens, so all of them go in with one indexed copy.
    positions = [row * max_len + t for row, length in enumerate(lengths) for t in range(length)]
    ids.view(num_rows * max_len, MAX_WORD_LENGTH)[torch.tensor(positions)] = torch.tensor(flat_ids)
    return ids
