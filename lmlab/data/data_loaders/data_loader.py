"""`DataLoader`: turns a dataset reader's instances into padded tensor batches.

Contract
    A loader is built with its `reader` and `data_path` (run-time arguments, so configs hold a
    `Lazy[DataLoader]`), counts its data's vocabulary items with `count_vocab_items(counter)` (the
    vocabulary is built from them), is told the vocabulary with `index_with(vocab)`, and yields batches as
    `Dict[str, Any]` (`Batch.as_tensor_dict()`: text fields are `{indexer: {key: LongTensor (B, T, ...)}}`).
    `iter_epoch(epoch, start)` yields the batches of `epoch` from its batch `start` on, skipping the first
    `start` cheaply; the trainer uses it to resume mid-epoch exactly where a checkpoint left off. What
    `epoch` means may depend on where the previous epochs stopped (a loader with a fixed number of
    batches per epoch continues its stream): `state_dict()` captures that, and a fresh loader given it
    with `load_state_dict()` yields exactly what the original would have from (`epoch`, `start`) on.
    `shard(rank, world_size, even)` makes the loader of one process of a distributed run yield only
    that process's share of every epoch.
"""
from typing import Any, Callable, Dict, Iterator

import torch

from lmlab.common.errors import ConfigurationError
from lmlab.common.registrable import Registrable
from lmlab.data.instance import Instance
from lmlab.data.vocabulary import Counter, Vocabulary

TensorDict = Dict[str, Any]


class DataLoader(Registrable):
    """Base class of data loaders; see the module docstring for the contract."""

    default_implementation = "multiprocess"
    run_time_arguments = ("reader", "data_path")

    def index_with(self, vocab: Vocabulary) -> None:
        raise NotImplementedError

    def iter_instances(self) -> Iterator[Instance]:
        """Every instance once, in reading order."""
        raise NotImplementedError

    def count_vocab_items(self, counter: Counter) -> None:
        """Add the vocabulary items of every instance, once each, to `counter` (building the vocabulary:
        `Vocabulary.from_instances` takes loaders as well as instances). Default: `iter_instances()`'s,
        one by one; a loader that holds its data counts it as a whole."""
        for instance in self.iter_instances():
            instance.count_vocab_items(counter)

    def iter_epoch(self, epoch: int = 0, start: int = 0) -> Iterator[TensorDict]:
        raise NotImplementedError

    def state_dict(self) -> Dict[str, Any]:
        """Where the stream of batches stands, for checkpoints (plain numbers). Default: nothing, for a
        loader whose epochs do not depend on one another."""
        return {}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Continue from a `state_dict()` of a loader with the same config and data."""

    def shard(self, rank: int, world_size: int, even: bool) -> None:
        """From now on, yield only process `rank`'s share of every epoch, out of `world_size` processes
        that each yield their own share; together they cover the data once per pass. With `even`, every
        process yields the same number of batches per epoch (training, where each batch is a step all
        processes take together), leaving out what a larger share has beyond that; without it, nothing
        is left out (evaluation). `iter_instances` still yields every instance (the vocabulary is built
        from all of them). Default: refused, for a loader that cannot shard its data."""
        # run time: only a distributed run shards
        raise ConfigurationError(f"{type(self).__name__} cannot share its data among processes "
                                 "(distributed training)")

    def __iter__(self) -> Iterator[TensorDict]:
        return self.iter_epoch(0)

    def __len__(self) -> int:
        """Number of batches per epoch; `TypeError` when unknown (lazy data)."""
        raise TypeError(f"{type(self).__name__} does not know its length")


def map_tensors(value: Any, function: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """`value` with `function` applied to every tensor in it (through dicts, lists and tuples)."""
    if isinstance(value, torch.Tensor):
        return function(value)
    if isinstance(value, dict):
        return {key: map_tensors(item, function) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(map_tensors(item, function) for item in value)
    return value


def move_to_device(value: Any, device: torch.device) -> Any:
    """Recursively move tensors in dicts/lists to `device` (asynchronously from pinned memory)."""
    return map_tensors(value, lambda tensor: tensor.to(device, non_blocking=True))
