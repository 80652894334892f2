"""`ArrayField`: a numpy array per instance, padded and stacked into one tensor."""
from typing import TYPE_CHECKING, Any, List, Optional, Union

import numpy as np

from lmlab.data.fields.field import Field
from lmlab.data.padding import pad_arrays

if TYPE_CHECKING:
    import torch


class ArrayField(Field):
    """A numpy array (any shape, any dtype) that needs no vocabulary.

    Parameters
        array: np.ndarray (or anything `np.asarray` accepts).
        padding_value: int or float = 0   fills the padded positions.
        dtype: numpy dtype = None         convert to this dtype (default: keep the array's).
    Outputs
        `batch`: tensor (B, d1_max, d2_max, ...), each array at the start of its row; all arrays of a
        batch must have the same number of dims. `len(field)` is the size of dim 0 (1 for a scalar).
    """

    __slots__ = ("array", "padding_value")

    def __init__(self, array: Any, padding_value: Union[int, float] = 0, dtype: Optional[Any] = None) -> None:
        self.array = np.asarray(array, dtype=dtype)
        self.padding_value = padding_value

    def __len__(self) -> int:
        return self.array.shape[0] if self.array.ndim else 1

    def batch(self, fields: List[Field]) -> "torch.Tensor":
        import torch

        arrays = [field.array for field in fields]  # type: ignore[attr-defined]
        return torch.from_numpy(pad_arrays(arrays, self.padding_value))

    def __repr__(self) -> str:
        return f"ArrayField(shape={self.array.shape}, dtype={self.array.dtype}, padding_value={self.padding_value})"
