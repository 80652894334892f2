import numpy as np
import torch

from lmlab.data import ArrayField


def test_pads_every_dim_with_the_padding_value():
    fields = [ArrayField(np.array([[1.0, 2.0]]), padding_value=-1), ArrayField([[3.0], [4.0]], padding_value=-1)]
    assert len(fields[0]) == 1 and len(fields[1]) == 2
    batch = fields[0].batch(fields)
    assert batch.dtype == torch.float64
    assert batch.tolist() == [[[1.0, 2.0], [-1.0, -1.0]], [[3.0, -1.0], [4.0, -1.0]]]


def test_dtype_and_scalars():
    fields = [ArrayField(3, dtype=np.int64), ArrayField(5, dtype=np.int64)]
    assert len(fields[0]) == 1
    batch = fields[0].batch(fields)
    assert batch.dtype == torch.int64 and batch.tolist() == [3, 5]
    assert ArrayField([1, 2], dtype=np.float32).array.dtype == np.float32
