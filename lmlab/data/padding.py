"""Padding ragged numpy arrays into one batch array (shared by token indexers and `ArrayField`)."""
from typing import Any, List, Optional, Tuple, Union

import numpy as np


def pad_arrays(arrays: List[np.ndarray], padding_value: Union[int, float] = 0,
               dtype: Optional[np.dtype] = None) -> np.ndarray:
    """Stack `arrays` (same number of dims) into one array, padding every dim to the batch maximum.

    Inputs
        arrays: B arrays of shapes (d1_b, d2_b, ...), all with the same number of dims.
    Outputs
        (B, max d1_b, max d2_b, ...) array of `dtype` (default: the arrays' common dtype); each array
        sits at the start of its row, the rest is `padding_value`.
    """
    if not arrays:
        raise ValueError("cannot pad an empty list of arrays")
    first_shape = arrays[0].shape
    if all(array.shape == first_shape for array in arrays):  # common case: no padding needed
        stacked = np.stack(arrays)
        return stacked if dtype is None else stacked.astype(dtype, copy=False)
    ndim = len(first_shape)
    if any(array.ndim != ndim for array in arrays):
        raise ValueError(f"cannot pad arrays with different numbers of dims: {sorted({a.ndim for a in arrays})}")
    max_shape = tuple(max(array.shape[d] for array in arrays) for d in range(ndim))
    out = np.full((len(arrays), *max_shape), padding_value,
                  dtype=dtype if dtype is not None else np.result_type(*arrays))  # (B, *max_shape)
    for row, array in enumerate(arrays):
        region: Tuple[Any, ...] = (row, *(slice(0, n) for n in array.shape))
        out[region] = array
    return out
