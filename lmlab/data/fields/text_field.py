"""`TextField`: a token sequence with the indexers that turn it into arrays."""
from typing import TYPE_CHECKING, Dict, List, Optional

import numpy as np

from lmlab.data.fields.field import Field
from lmlab.data.token_indexers.token_indexer import TokenIndexer
from lmlab.data.vocabulary import Vocabulary

if TYPE_CHECKING:
    import torch

TextFieldArrays = Dict[str, Dict[str, np.ndarray]]
"""indexer name -> key -> array, for one field."""


class TextField(Field):
    """A list of T string tokens plus the token indexers that represent it.

    Parameters
        tokens: List[str]                          the tokens (T of them).
        token_indexers: Dict[str, TokenIndexer]    indexer name -> indexer; usually shared by every
                                                   instance of a reader.
    Outputs
        `batch` gives AllenNLP's TextFieldTensors: {indexer name: {key: int64 tensor (B, T_max, ...)}},
        e.g. {"tokens": {"tokens": (B, T)}} or {"token_characters": {"token_characters": (B, T, C)}};
        padding is 0 at the end of each row.
    Notes
        Indexing costs one vocabulary lookup per token and one `np.array` per indexer.
    """

    __slots__ = ("tokens", "token_indexers", "_indexed")

    def __init__(self, tokens: List[str], token_indexers: Dict[str, TokenIndexer]) -> None:
        self.tokens = tokens
        self.token_indexers = token_indexers
        self._indexed: Optional[TextFieldArrays] = None

    def count_vocab_items(self, counter: Dict[str, Dict[str, int]]) -> None:
        for indexer in self.token_indexers.values():
            indexer.count_vocab_items(self.tokens, counter)

    def index(self, vocab: Vocabulary) -> None:
        self._indexed = {name: indexer.tokens_to_indices(self.tokens, vocab)
                         for name, indexer in self.token_indexers.items()}

    @property
    def is_indexed(self) -> bool:
        return self._indexed is not None

    @property
    def indexed(self) -> TextFieldArrays:
        """The arrays made by `index`."""
        if self._indexed is None:
            raise RuntimeError("TextField is not indexed yet; call Instance.index_fields(vocab) first")
        return self._indexed

    def __len__(self) -> int:
        return len(self.tokens)

    def batch(self, fields: List[Field]) -> Dict[str, Dict[str, "torch.Tensor"]]:
        arrays = [field.indexed for field in fields]  # type: ignore[attr-defined]
        return {name: indexer.collate([item[name] for item in arrays])
                for name, indexer in self.token_indexers.items()}

    def __repr__(self) -> str:
        shown = " ".join(self.tokens[:10]) + (" ..." if len(self.tokens) > 10 else "")
        return f"TextField({len(self.tokens)} tokens: {shown!r}, indexers: {', '.join(self.token_indexers)})"
