"""`Instance`: one example, a mapping from field names to `Field`s."""
from typing import Dict, Iterator, Optional

from lmlab.data.fields.field import Field
from lmlab.data.fields.text_field import TextField
from lmlab.data.vocabulary import Vocabulary


class Instance:
    """One example: named fields, e.g. {"source": TextField, "forward_targets": TextField}.

    Parameters
        fields: Dict[str, Field]   field name -> field; the names become the keys of the batch dict
                                   (and so the argument names of the model's `forward`).
    Notes
        `index_fields(vocab)` indexes every field once per vocabulary object: calling it again with the
        same vocabulary does nothing, with a different one re-indexes.
    """

    __slots__ = ("fields", "_indexed_with")

    def __init__(self, fields: Dict[str, Field]) -> None:
        self.fields: Dict[str, Field] = dict(fields)
        self._indexed_with: Optional[str] = None  # `uid` of the vocabulary used by index_fields

    def __getitem__(self, name: str) -> Field:
        return self.fields[name]

    def __contains__(self, name: object) -> bool:
        return name in self.fields

    def __iter__(self) -> Iterator[str]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def add_field(self, name: str, field: Field, vocab: Optional[Vocabulary] = None) -> None:
        """Add (or replace) a field; if the instance is indexed, pass `vocab` to index the new field too."""
        self.fields[name] = field
        if vocab is not None and self._indexed_with is not None:
            field.index(vocab)

    def count_vocab_items(self, counter: Dict[str, Dict[str, int]]) -> None:
        for field in self.fields.values():
            field.count_vocab_items(counter)

    def index_fields(self, vocab: Vocabulary) -> None:
        if self._indexed_with == vocab.uid and all(field.is_indexed for field in self.fields.values()):
            return
        for field in self.fields.values():
            field.index(vocab)
        self._indexed_with = vocab.uid

    def get_num_tokens(self) -> int:
        """Tokens in the first `TextField` (0 if none): the unit of max_tokens batching and tokens/s."""
        for field in self.fields.values():
            if isinstance(field, TextField):
                return len(field)
        return 0

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}: {field!r}" for name, field in self.fields.items())
        return f"Instance({inner})"
