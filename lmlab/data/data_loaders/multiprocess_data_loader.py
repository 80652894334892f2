"""The default data loader: batching by size or tokens, length bucketing, shuffling, worker processes."""
import itertools
from typing import Iterable, Iterator, List, Optional

import torch

from lmlab.common.errors import ConfigurationError, InputError
from lmlab.data.batch import Batch
from lmlab.data.data_loaders.data_loader import DataLoader, TensorDict
from lmlab.data.dataset_readers.dataset_reader import DatasetReader
from lmlab.data.instance import Instance
from lmlab.data.vocabulary import Vocabulary


@DataLoader.register("multiprocess")
class MultiProcessDataLoader(DataLoader):
    """Batches instances from a reader, in memory or streaming, optionally in worker processes.

    Registered as a `DataLoader` with name "multiprocess" (the default).

    Parameters
        reader: DatasetReader, data_path: str   given at run time (from `dataset_reader` / `*_data_path`).
        batch_size: int = None      instances per batch.
        max_tokens: int = None      cap on padded tokens per batch (B * longest T); with `batch_size`,
                                    both limits apply. One of the two is required.
        shuffle: bool = False       shuffle instances (and batches) every epoch, seeded by (`seed`, epoch).
        bucket_by_length: bool = False
                                    sort by length before cutting batches, so a batch holds similar
                                    lengths (less padding); batch order is then shuffled if `shuffle`.
        num_workers: int = 0        worker processes building batches; with streaming data each worker
                                    reads its own shard (see `DatasetReader.read`).
        max_instances_in_memory: int = None
                                    None: read and index the data once and keep it (fast epochs).
                                    N: stream, holding N instances at a time (corpora larger than memory);
                                    shuffling and bucketing then act within each chunk of N.
        seed: int = 13
    Outputs
        Batches from `Batch.as_tensor_dict()`; tensors stay on the CPU (pinned when CUDA is available)
        and the trainer moves them.
    """

    def __init__(self, reader: DatasetReader, data_path: str, batch_size: Optional[int] = None,
                 max_tokens: Optional[int] = None, shuffle: bool = False, bucket_by_length: bool = False,
                 num_workers: int = 0, max_instances_in_memory: Optional[int] = None, seed: int = 13) -> None:
        if batch_size is None and max_tokens is None:
            raise ConfigurationError("set batch_size or max_tokens")
        for name, value in (("batch_size", batch_size), ("max_tokens", max_tokens),
                            ("max_instances_in_memory", max_instances_in_memory)):
            if value is not None and value < 1:
                raise ConfigurationError(f"must be positive, found {value}", name)
        if num_workers < 0:
            raise ConfigurationError(f"must be >= 0, found {num_workers}", "num_workers")
        self.reader, self.data_path = reader, data_path
        self.batch_size, self.max_tokens = batch_size, max_tokens
        self.shuffle, self.bucket_by_length = shuffle, bucket_by_length
        self.num_workers, self.max_instances_in_memory, self.seed = num_workers, max_instances_in_memory, seed
        self._vocab: Optional[Vocabulary] = None
        self._instances: Optional[List[Instance]] = None  # in-memory mode, indexed once

    def index_with(self, vocab: Vocabulary) -> None:
        if vocab is not self._vocab and self._instances is not None:
            for instance in self._instances:
                instance.index_fields(vocab)
        self._vocab = vocab

    def iter_instances(self) -> Iterator[Instance]:
        if self._instances is not None:
            return iter(self._instances)
        return iter(self.reader.read(self.data_path))

    def __len__(self) -> int:
        if self.max_instances_in_memory is not None:
            raise TypeError("a streaming data loader (max_instances_in_memory set) does not know its length")
        return len(self._epoch_batches(self._all_instances(), 0))

    def iter_epoch(self, epoch: int = 0, start: int = 0) -> Iterator[TensorDict]:
        if self._vocab is None:
            raise RuntimeError("call index_with(vocab) before iterating a data loader")
        if self.max_instances_in_memory is None:
            instances = self._all_instances()
            batches = self._epoch_batches(instances, epoch)[start:]
            dataset = _InMemoryBatches(instances, batches)
            if self.num_workers == 0:
                yield from (dataset[i] for i in range(len(dataset)))
                return
        else:
            dataset = _StreamingBatches(self, epoch)
            if self.num_workers == 0:
                yield from itertools.islice(iter(dataset), start, None)
                return
        loader = torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=self.num_workers,
                                             collate_fn=_identity, pin_memory=torch.cuda.is_available())
        batches_iter = iter(loader)
        if self.max_instances_in_memory is not None:
            batches_iter = itertools.islice(batches_iter, start, None)
        yield from batches_iter

    # --- batching ------------------------------------------------------------------------------
    def _all_instances(self) -> List[Instance]:
        if self._instances is None:
            instances = list(self.reader.read(self.data_path))
            if not instances:
                raise InputError(f"no instances read from {self.data_path}")
            if self._vocab is not None:
                for instance in instances:
                    instance.index_fields(self._vocab)
            self._instances = instances
        return self._instances

    def _epoch_batches(self, instances: List[Instance], epoch: int, chunk: int = 0) -> List[List[int]]:
        """Index lists, one per batch, for this epoch: deterministic in (seed, epoch, chunk)."""
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch * 1009 + chunk)
        order = torch.randperm(len(instances), generator=generator).tolist() if self.shuffle else \
            list(range(len(instances)))
        lengths = [instances[i].get_num_tokens() for i in order] if (self.bucket_by_length or self.max_tokens) \
            else None
        if self.bucket_by_length:
            ranked = sorted(range(len(order)), key=lambda k: lengths[k])  # stable: ties keep shuffled order
            order, lengths = [order[k] for k in ranked], [lengths[k] for k in ranked]
        batches = self._cut(order, lengths)
        if self.shuffle and self.bucket_by_length:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
        return batches

    def _cut(self, order: List[int], lengths: Optional[List[int]]) -> List[List[int]]:
        if self.max_tokens is None:
            return [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        batches, current, longest = [], [], 0
        for index, length in zip(order, lengths):
            new_longest = max(longest, length)
            too_many = self.batch_size is not None and len(current) >= self.batch_size
            if current and (too_many or new_longest * (len(current) + 1) > self.max_tokens):
                batches.append(current)
                current, new_longest = [], length
            current.append(index)
            longest = new_longest
        if current:
            batches.append(current)
        return batches

    def _stream_batches(self, epoch: int) -> Iterator[TensorDict]:
        """Streaming mode: read `max_instances_in_memory` at a time and batch each chunk."""
        instances_iter = iter(self.reader.read(self.data_path))
        for chunk_index in itertools.count():
            chunk = list(itertools.islice(instances_iter, self.max_instances_in_memory))
            if not chunk:
                return
            for instance in chunk:
                instance.index_fields(self._vocab)
            for batch in self._epoch_batches(chunk, epoch, chunk_index):
                yield Batch([chunk[i] for i in batch]).as_tensor_dict()


class _InMemoryBatches(torch.utils.data.Dataset):
    def __init__(self, instances: List[Instance], batches: List[List[int]]) -> None:
        self.instances, self.batches = instances, batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> TensorDict:
        return Batch([self.instances[i] for i in self.batches[index]]).as_tensor_dict()


class _StreamingBatches(torch.utils.data.IterableDataset):
    """Each worker runs the reader, which reads only that worker's shard."""

    def __init__(self, loader: MultiProcessDataLoader, epoch: int) -> None:
        self.loader, self.epoch = loader, epoch

    def __iter__(self) -> Iterable[TensorDict]:
        return self.loader._stream_batches(self.epoch)


def _identity(batch: TensorDict) -> TensorDict:
    return batch
