"""`SequenceLabelField`: one string label per token (tags), indexed in a vocabulary namespace."""
from typing import TYPE_CHECKING, Dict, List, Optional

import numpy as np

from lmlab.data.fields.field import Field
from lmlab.data.padding import pad_arrays
from lmlab.data.token_indexers.token_indexer import count_tokens
from lmlab.data.vocabulary import Vocabulary

if TYPE_CHECKING:
    import torch


class SequenceLabelField(Field):
    """T labels, one per token of a sequence, e.g. chunk tags.

    Parameters
        labels: List[str]            the T labels.
        label_namespace: str = "labels"   vocabulary namespace; by default non-padded (names ending in
                                     "labels" or "tags"), so index 0 is a real label.
    Outputs
        `batch`: (B, T_max) int64 label indices, 0 after the end of each sequence (padding is told apart
        by the mask of the text field the labels belong to, not by the value).
    """

    __slots__ = ("labels", "label_namespace", "_indexed")

    def __init__(self, labels: List[str], label_namespace: str = "labels") -> None:
        self.labels = labels
        self.label_namespace = label_namespace
        self._indexed: Optional[np.ndarray] = None

    def count_vocab_items(self, counter: Dict[str, Dict[str, int]]) -> None:
        count_tokens(counter, self.label_namespace, self.labels)

    def index(self, vocab: Vocabulary) -> None:
        self._indexed = vocab.get_token_indices(self.labels, self.label_namespace)  # (T,)

    @property
    def is_indexed(self) -> bool:
        return self._indexed is not None

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, fields: List[Field]) -> "torch.Tensor":
        import torch

        arrays = [field._indexed for field in fields]  # type: ignore[attr-defined]
        if any(array is None for array in arrays):
            raise RuntimeError("SequenceLabelField is not indexed yet; call Instance.index_fields(vocab) first")
        return torch.from_numpy(pad_arrays(arrays, 0, np.dtype(np.int64)))  # (B, T_max)

    def __repr__(self) -> str:
        shown = " ".join(self.labels[:10]) + (" ..." if len(self.labels) > 10 else "")
        return f"SequenceLabelField({len(self.labels)} labels in {self.label_namespace!r}: {shown!r})"
