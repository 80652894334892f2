import numpy as np
import pytest

from lmlab.data.padding import pad_arrays


def test_pads_every_dim_to_the_batch_maximum():
    out = pad_arrays([np.array([[1, 2]]), np.array([[3], [4], [5]])], padding_value=-1)
    np.testing.assert_array_equal(out, [[[1, 2], [-1, -1], [-1, -1]], [[3, -1], [4, -1], [5, -1]]])


def test_same_shapes_stack_and_dtype_conversion():
    out = pad_arrays([np.array([1, 2], dtype=np.int32), np.array([3, 4], dtype=np.int32)], dtype=np.int64)
    assert out.dtype == np.int64 and out.tolist() == [[1, 2], [3, 4]]
    assert pad_arrays([np.array([1.5]), np.array([], dtype=np.float64)]).tolist() == [[1.5], [0.0]]


def test_errors():
    with pytest.raises(ValueError, match="empty"):
        pad_arrays([])
    with pytest.raises(ValueError, match="different numbers of dims"):
        pad_arrays([np.zeros(2), np.zeros((1, 2))])
