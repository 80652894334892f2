"""`Field`: one named piece of an `Instance` (a token sequence, an array, metadata)."""
from typing import Any, Dict, List

from lmlab.data.vocabulary import Vocabulary


class Field:
    """One named piece of an `Instance`, and how a batch of such pieces becomes tensors.

    Not registrable: dataset readers build fields in code. Lifecycle: `count_vocab_items` (while a
    vocabulary is built), `index(vocab)` (stores integer arrays inside the field), then
    `fields[0].batch(fields)` with the same field of every instance of a batch.

    Inputs
        `batch(fields)`: the B fields (all of this class) found under one name in a batch.
    Outputs
        Whatever the model's `forward` expects for that name: a tensor, a dict of tensors, a list.
    """

    __slots__ = ()  # subclasses declare theirs: a corpus holds millions of fields

    def count_vocab_items(self, counter: Dict[str, Dict[str, int]]) -> None:
        """Add this field's vocabulary items to `counter` (namespace -> token -> count). Default: none."""

    def index(self, vocab: Vocabulary) -> None:
        """Convert to integer arrays with `vocab` and keep them in the field. Default: nothing to do."""

    @property
    def is_indexed(self) -> bool:
        """True once `index` has run (always True for fields that need no vocabulary)."""
        return True

    def __len__(self) -> int:
        raise NotImplementedError

    def batch(self, fields: List["Field"]) -> Any:
        """Collate `fields` (this field's class, one per instance, `self` usually the first)."""
        raise NotImplementedError
