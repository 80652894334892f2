"""`MetadataField`: any Python value carried through to the model untouched."""
from typing import Any, List

from lmlab.data.fields.field import Field


class MetadataField(Field):
    """Any value (original text, an id, a dict) passed through batching as-is.

    Parameters
        value: Any
    Outputs
        `batch`: a plain list of the B values, in batch order (never converted to tensors).
    """

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __getitem__(self, key: Any) -> Any:
        return self.value[key]

    def __len__(self) -> int:
        return 1

    def batch(self, fields: List[Field]) -> List[Any]:
        return [field.value for field in fields]  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"MetadataField({self.value!r})"[:200]
