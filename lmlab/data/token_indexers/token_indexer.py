"""`TokenIndexer`: turns a list of string tokens into integer arrays, and a batch of those into tensors."""
from typing import TYPE_CHECKING, Dict, Iterable, List, Sequence

import numpy as np

from lmlab.common.registrable import Registrable
from lmlab.data.padding import pad_arrays
from lmlab.data.vocabulary import Vocabulary

if TYPE_CHECKING:
    import torch


def count_tokens(counter: Dict[str, Dict[str, int]], namespace: str, tokens: Iterable[str]) -> None:
    """Add one to `counter[namespace][token]` for every token (works with plain dicts and defaultdicts)."""
    counts = counter.setdefault(namespace, {})
    get = counts.get
    for token in tokens:
        counts[token] = get(token, 0) + 1


class TokenIndexer(Registrable):
    """Represents a list of T tokens as integer arrays; the base class of every token indexer.

    One `TextField` can carry several indexers (word ids and character ids, say); each produces its own
    arrays, under its own keys, and the model's embedder for that indexer consumes them.

    Inputs
        tokens: List[str] of length T.
    Outputs
        `tokens_to_indices`: {key: int64 array whose first dim is T (or T plus the indexer's own
        start/end tokens)}. `collate` of B such dicts: {key: int64 tensor (B, T_max, ...)} padded
        with 0 to the longest in the batch along every dim.
    Notes
        Index 0 is padding in every indexer, so a model can compute its mask as `ids != 0` (for arrays
        with a trailing per-token dim: any id != 0). Indexers that need no vocabulary (fixed
        character ids, for instance) just don't override `count_vocab_items`.
    """

    default_implementation = "single_id"

    start_tokens: Sequence[str] = ()
    """Tokens this indexer puts before every sequence, so its arrays are longer than T; none by default."""
    end_tokens: Sequence[str] = ()
    """Tokens this indexer puts after every sequence; none by default."""

    @property
    def indexes_tokens_independently(self) -> bool:
        """True when each token is indexed on its own: `tokens_to_indices(tokens)` gives (T,) arrays whose
        entry t depends on token t alone, and `count_vocab_items(tokens)` counts each token as if it were
        alone. A reader of one long token stream can then count and index each distinct word once
        instead of every token. Default False."""
        return False

    def count_vocab_items(self, tokens: List[str], counter: Dict[str, Dict[str, int]]) -> None:
        """Add the vocabulary items this indexer will look up for `tokens` to `counter`."""

    def tokens_to_indices(self, tokens: List[str], vocab: Vocabulary) -> Dict[str, np.ndarray]:
        raise NotImplementedError

    def collate(self, indexed: List[Dict[str, np.ndarray]]) -> Dict[str, "torch.Tensor"]:
        """Pad and stack the outputs of `tokens_to_indices` for one batch into int64 tensors."""
        import torch

        return {key: torch.from_numpy(pad_arrays([item[key] for item in indexed], 0, np.dtype(np.int64)))
                for key in indexed[0]}
