"""`DataLoader`: turns a dataset reader's instances into padded tensor batches.

Contract
    A loader is built with its `reader` and `data_path` (run-time arguments, so configs hold a
    `Lazy[DataLoader]`), is told the vocabulary with `index_with(vocab)`, and yields batches as
    `Dict[str, Any]` (`Batch.as_tensor_dict()`: text fields are `{indexer: {key: LongTensor (B, T, ...)}}`).
    `iter_epoch(epoch, start)` is deterministic for a given (seed, epoch) and skips the first `start`
    batches cheaply: the trainer uses it to resume mid-epoch exactly where a checkpoint left off.
"""
from typing import Any, Dict, Iterator

import torch

from lmlab.common.registrable import Registrable
from lmlab.data.instance import Instance
from lmlab.data.vocabulary import Vocabulary

TensorDict = Dict[str, Any]


class DataLoader(Registrable):
    """Base class of data loaders; see the module docstring for the contract."""

    default_implementation = "multiprocess"
    run_time_arguments = ("reader", "data_path")

    def index_with(self, vocab: Vocabulary) -> None:
        raise NotImplementedError

    def iter_instances(self) -> Iterator[Instance]:
        """Every instance once, in reading order, unindexed (used to build the vocabulary)."""
        raise NotImplementedError

    def iter_epoch(self, epoch: int = 0, start: int = 0) -> Iterator[TensorDict]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[TensorDict]:
        return self.iter_epoch(0)

    def __len__(self) -> int:
        """Number of batches per epoch; `TypeError` when unknown (lazy data)."""
        raise TypeError(f"{type(self).__name__} does not know its length")


def move_to_device(value: Any, device: torch.device) -> Any:
    """Recursively move tensors in dicts/lists to `device` (asynchronously from pinned memory)."""
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=True)
    if isinstance(value, dict):
        return {key: move_to_device(item, device) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(move_to_device(item, device) for item in value)
    return value
