"""The default data loader: batching by size or tokens, length bucketing, shuffling, a fixed number of
batches per epoch, and persistent worker processes.

The data is seen as an endless stream of *passes*: pass p is every instance once, shuffled and cut into
batches deterministically from (`seed`, p). A position in that stream is (pass, batches of it already
consumed). An epoch is one pass, or, with `batches_per_epoch`, the next N batches of the stream.

In a distributed run (`shard(rank, world_size, even)`), instance p of a pass's order (shuffled or
not) belongs to process p mod world_size, which cuts its own batches from its share; with `even`, a
pass of every process has as many batches as the smallest share gives.
"""
import itertools
import os
from typing import Any, Dict, Iterator, List, Optional, Tuple

import torch

from lmlab.common.constraints import NonNegativeInt, PositiveInt
from lmlab.common.errors import ConfigurationError, InputError
from lmlab.data.data_loaders.data_loader import DataLoader, TensorDict, map_tensors
from lmlab.data.dataset_readers.dataset_reader import DatasetReader
from lmlab.data.instance import Instance
from lmlab.data.instance_table import InstanceList, InstanceTable
from lmlab.data.vocabulary import Counter, Vocabulary

Position = Tuple[int, int]
"""(pass, number of that pass's batches already consumed)."""


@DataLoader.register("multiprocess")
class MultiProcessDataLoader(DataLoader):
    """Batches instances from a reader, in memory or streaming, optionally in worker processes.

    Registered as a `DataLoader` with name "multiprocess" (the default).

    Parameters
        reader: DatasetReader, data_path: str   given at run time (from `dataset_reader` / `*_data_path`).
        batch_size: int = None      instances per batch.
        max_tokens: int = None      cap on padded tokens per batch (B * longest T); with `batch_size`,
                                    both limits apply. One of the two is required.
        shuffle: bool = False       shuffle instances (and batches) every pass, seeded by (`seed`, pass).
        bucket_by_length: bool = False
                                    sort by length before cutting batches, so a batch holds similar
                                    lengths (less padding); batch order is then shuffled if `shuffle`.
        batches_per_epoch: int = None
                                    an epoch is exactly this many batches: when the data has fewer, the
                                    epoch runs on into the next pass (reshuffled); when it has more, the
                                    next epoch continues where this one stopped. None: an epoch is one pass.
        num_workers: int = None     worker processes building batches, kept alive across epochs; with
                                    streaming data each worker reads its own shard (see `DatasetReader.read`).
                                    None: `default_num_workers`, 2 when the data is in memory and a GPU
                                    trains, else 0.
        max_instances_in_memory: int = None
                                    None: read and index the data once and keep it (fast epochs; the
                                    vocabulary pass, the length and every epoch share that one read).
                                    N: stream, holding N instances at a time (corpora larger than memory);
                                    shuffling and bucketing then act within each chunk of N, and the length
                                    is unknown unless `batches_per_epoch` is set.
        seed: int = 13
    Outputs
        Batches from `Batch.as_tensor_dict()`; tensors stay on the CPU, in pinned memory when CUDA is
        available (so the trainer's copy to the GPU is asynchronous).
    Notes
        `state_dict()` is where the next epoch starts in the stream; with `iter_epoch(epoch, start)` it
        makes a resumed run see exactly the batches an uninterrupted one would.

        Sharded over W processes (`shard`), process r keeps instances r, r+W, r+2W, ... of each pass's
        order, so with `batch_size` b and no bucketing, batch k of the W processes together is batch k
        of a single process with batch size W*b. In memory, every process reads all the data (the
        vocabulary needs it) and batches only its share; streaming, each process keeps its share of
        what its workers read. A reader that keeps C consecutive instances together
        (`shard_chunk_size`: the B streams of a contiguous reader) needs C to be a multiple of W: then
        process r gets the same streams r, r+W, ... in every window, and carried states stay right
        when b*W = B. Training (`even`) over streaming data needs `batches_per_epoch`.
    """

    def __init__(self, reader: DatasetReader, data_path: str, batch_size: Optional[PositiveInt] = None,
                 max_tokens: Optional[PositiveInt] = None, shuffle: bool = False, bucket_by_length: bool = False,
                 batches_per_epoch: Optional[PositiveInt] = None, num_workers: Optional[NonNegativeInt] = None,
                 max_instances_in_memory: Optional[PositiveInt] = None, seed: int = 13) -> None:
        self.reader, self.data_path = reader, data_path
        self.batches_per_epoch = batches_per_epoch
        self.num_workers = num_workers if num_workers is not None else \
            default_num_workers(streaming=max_instances_in_memory is not None)
        self.max_instances_in_memory = max_instances_in_memory
        self._batcher = _Batcher(batch_size, max_tokens, shuffle, bucket_by_length, seed)
        self._pin_memory = torch.cuda.is_available()
        self._shard: Tuple[int, int] = (0, 1)  # (this process, processes): see `shard`
        self._even = False
        self._vocab: Optional[Vocabulary] = None
        self._instances: Optional[InstanceTable] = None  # in-memory mode: read once, indexed once
        self._pass_cache: Optional[Tuple[int, List[List[int]]]] = None  # in-memory: the last pass's batches
        self._next_epoch: Tuple[int, Position] = (0, (0, 0))  # (epoch, where it starts): the stream's cursor
        self._live: Optional[Tuple[Position, Iterator[TensorDict]]] = None  # streaming: the open pass
        self._dataset: Optional[torch.utils.data.Dataset] = None  # what the worker processes serve
        self._workers: Optional[torch.utils.data.DataLoader] = None  # persistent worker processes

    @classmethod
    def check_arguments(cls, arguments: Dict[str, Any]) -> Iterator[ConfigurationError]:
        if arguments.get("batch_size") is None and arguments.get("max_tokens") is None:
            yield ConfigurationError("set batch_size or max_tokens", "batch_size")

    def index_with(self, vocab: Vocabulary) -> None:
        if vocab is self._vocab:
            return
        if self._instances is not None:
            self._instances.index_with(vocab)
        # workers hold a copy of the instances or of the vocabulary: new ones must start from this one
        self._vocab, self._dataset, self._workers, self._live = vocab, None, None, None

    def shard(self, rank: int, world_size: int, even: bool) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not one of {world_size} processes")
        chunk = self.reader.shard_chunk_size
        # run time, here and below: the number of processes of a distributed run
        if chunk > 1 and chunk % world_size:
            raise ConfigurationError(f"the reader keeps {chunk} consecutive instances together (its streams); "
                                     f"with {world_size} processes that must be a multiple of {world_size}",
                                     "dataset_reader")
        if even and self.max_instances_in_memory is not None and self.batches_per_epoch is None:
            raise ConfigurationError("needed for distributed training over streaming data (max_instances_in_memory "
                                     "set): every process must run the same number of batches per epoch",
                                     "batches_per_epoch")
        self._shard, self._even = (rank, world_size), even
        # the batches of a pass, and what worker processes were told to serve, change with the share
        self._pass_cache, self._dataset, self._workers, self._live = None, None, None, None

    def iter_instances(self) -> Iterator[Instance]:
        if self.max_instances_in_memory is None:
            return iter(self._all_instances())  # read now and kept: the epochs reuse this read
        return iter(self.reader.read(self.data_path))

    def count_vocab_items(self, counter: Counter) -> None:
        if self.max_instances_in_memory is None:
            self._all_instances().count_vocab_items(counter)  # as a whole (arrays, for a lean table)
        else:
            super().count_vocab_items(counter)

    def __len__(self) -> int:
        if self.batches_per_epoch is not None:
            return self.batches_per_epoch
        if self.max_instances_in_memory is not None:
            raise TypeError("a streaming data loader (max_instances_in_memory set) does not know its length; "
                            "set batches_per_epoch")
        return len(self._pass_batches(0))

    def state_dict(self) -> Dict[str, Any]:
        epoch, (pass_number, offset) = self._next_epoch
        return {"epoch": epoch, "pass": pass_number, "offset": offset}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self._next_epoch = (state["epoch"], (state["pass"], state["offset"]))

    def iter_epoch(self, epoch: int = 0, start: int = 0) -> Iterator[TensorDict]:
        if self._vocab is None:
            raise RuntimeError("call index_with(vocab) before iterating a data loader")
        if self.batches_per_epoch is None:  # epoch e is pass e
            origin, skip, count = (epoch, 0), start, None
        else:
            # from the cursor, or from the beginning for an earlier epoch (evaluation asks for epoch 0 each time)
            known, origin = self._next_epoch if epoch >= self._next_epoch[0] else (0, (0, 0))
            skip, count = (epoch - known) * self.batches_per_epoch + start, self.batches_per_epoch - start
        if self.max_instances_in_memory is None:
            plan, end = self._plan(origin, skip, count)
            yield from self._serve(plan)
        else:
            yield from self._stream(origin, skip, count)
            assert self._live is not None
            end = self._live[0]
        if self.batches_per_epoch is not None:
            self._next_epoch = (epoch + 1, end)

    # --- in memory -----------------------------------------------------------------------------
    def _all_instances(self) -> InstanceTable:
        if self._instances is None:
            instances = self.reader.read_all(self.data_path)
            if not len(instances):
                raise InputError(f"no instances read from {self.data_path}")
            if self._vocab is not None:
                instances.index_with(self._vocab)
            self._instances = instances
        return self._instances

    def _pass_batches(self, pass_number: int) -> List[List[int]]:
        if self._pass_cache is None or self._pass_cache[0] != pass_number:
            instances = self._all_instances()
            batches = self._batcher.batches(instances, pass_number, shard=self._shard)
            rank, world_size = self._shard
            if self._even and world_size > 1:  # every process can count every share's batches: no messages
                batches = batches[:min(len(self._batcher.batches(instances, pass_number, shard=(other, world_size)))
                                       for other in range(world_size))]
            self._pass_cache = (pass_number, batches)
        return self._pass_cache[1]

    def _plan(self, position: Position, skip: int, count: Optional[int]) -> Tuple[List[List[int]], Position]:
        """Index lists of the `count` batches (None: the rest of the pass) that come `skip` batches after
        `position`, and the position after them."""
        pass_number, offset = position[0], position[1] + skip
        if count is None:
            batches = self._pass_batches(pass_number)
            return batches[offset:], (pass_number, len(batches))
        plan: List[List[int]] = []
        while True:
            batches = self._pass_batches(pass_number)
            taken = batches[offset:offset + count - len(plan)]
            plan += taken
            if len(plan) == count:
                return plan, (pass_number, offset + len(taken))
            pass_number, offset = pass_number + 1, max(0, offset - len(batches))

    def _serve(self, plan: List[List[int]]) -> Iterator[TensorDict]:
        if self.num_workers == 0:
            dataset = _InMemoryBatches(self._all_instances())
            yield from (self._pin(dataset[indices]) for indices in plan)
            return
        workers = self._worker_processes()
        workers.sampler.plan = plan  # type: ignore[attr-defined]  # read by the next iter() in this process
        yield from workers

    # --- streaming -----------------------------------------------------------------------------
    def _stream(self, origin: Position, skip: int, count: Optional[int]) -> Iterator[TensorDict]:
        """`count` batches (None: the rest of the pass) from `skip` batches after `origin`; the open pass
        is reused when it is not past that point, so consecutive epochs read the data once."""
        pass_number, offset = origin[0], origin[1] + skip
        if self._live is None or self._live[0][0] != pass_number or self._live[0][1] > offset:
            self._live = ((pass_number, 0), self._open_pass(pass_number))
        for _ in range(offset - self._live[0][1]):
            self._take(cross=True)
        for _ in itertools.count() if count is None else range(count):
            batch = self._take(cross=count is not None)
            if batch is None:
                return
            yield batch

    def _take(self, cross: bool) -> Optional[TensorDict]:
        """The next batch of the open pass; at its end, the first of the next pass if `cross`, else None."""
        assert self._live is not None
        (pass_number, offset), batches = self._live
        batch = next(batches, None)
        if batch is not None:
            self._live = ((pass_number, offset + 1), batches)
            return batch
        if offset == 0:
            raise InputError(f"no instances read from {self.data_path}")
        if not cross:
            return None
        self._live = ((pass_number + 1, 0), self._open_pass(pass_number + 1))
        return self._take(cross)

    def _open_pass(self, pass_number: int) -> Iterator[TensorDict]:
        if self.num_workers == 0:
            assert self._vocab is not None
            dataset = _StreamingBatches(self.reader, self.data_path, self._vocab, self._batcher,
                                        self.max_instances_in_memory or 0, self._shard)
            yield from map(self._pin, dataset.batches(pass_number))
            return
        workers = self._worker_processes()
        workers.dataset.pass_number.fill_(pass_number)  # type: ignore[attr-defined]  # shared with the workers
        yield from workers

    # --- workers and pinning -------------------------------------------------------------------
    def _worker_processes(self) -> torch.utils.data.DataLoader:
        """The persistent worker pool: started once, then told what to serve before each `iter()`."""
        if self._workers is None:
            assert self._vocab is not None
            sampler: Optional[_Plan] = None
            if self.max_instances_in_memory is None:
                self._dataset, sampler = _InMemoryBatches(self._all_instances()), _Plan()
            else:
                self._dataset = _StreamingBatches(self.reader, self.data_path, self._vocab, self._batcher,
                                                  self.max_instances_in_memory, self._shard)
                self._dataset.pass_number.share_memory_()
            self._workers = torch.utils.data.DataLoader(
                self._dataset, batch_size=None, sampler=sampler, num_workers=self.num_workers,
                collate_fn=_identity, pin_memory=self._pin_memory, persistent_workers=True)
        return self._workers

    def _pin(self, batch: TensorDict) -> TensorDict:
        # worker pools pin in their own thread; batches built in this process are pinned here
        return map_tensors(batch, torch.Tensor.pin_memory) if self._pin_memory else batch


def default_num_workers(streaming: bool) -> int:
    """Worker processes for a loader whose config leaves `num_workers` null.

    In memory with a GPU: 2 (at most the cores but one), so batches are built while the GPU works on the
    last one; a batch is slices of indexed arrays, so more workers rarely pay for their cores. Without a
    GPU: 0, since the model's own threads use the cores. Streaming: 0, because how many workers read the
    stream decides how it is cut into batches (each reads its own shard), so a run that should see the
    same batches on another machine has to write its worker count down.
    """
    if streaming or not torch.cuda.is_available():
        return 0
    return max(0, min(2, (os.cpu_count() or 1) - 1))


class _Batcher:
    """Cuts a list of instances into batches (lists of indices), deterministically in (seed, pass, chunk)."""

    def __init__(self, batch_size: Optional[int], max_tokens: Optional[int], shuffle: bool, bucket_by_length: bool,
                 seed: int) -> None:
        self.batch_size, self.max_tokens = batch_size, max_tokens
        self.shuffle, self.bucket_by_length, self.seed = shuffle, bucket_by_length, seed

    def batches(self, instances: InstanceTable, pass_number: int, chunk: int = 0,
                shard: Tuple[int, int] = (0, 1)) -> List[List[int]]:
        """Batches of `instances` in pass `pass_number`; of `shard` = (r, W), only those of instances r,
        r+W, ... of the pass's order."""
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + pass_number * 1009 + chunk)
        order = torch.randperm(len(instances), generator=generator).tolist() if self.shuffle else \
            list(range(len(instances)))
        order = order[shard[0]::shard[1]]
        lengths = instances.num_tokens(order) if (self.bucket_by_length or self.max_tokens) else []
        if self.bucket_by_length:
            ranked = sorted(range(len(order)), key=lambda k: lengths[k])  # stable: ties keep shuffled order
            order, lengths = [order[k] for k in ranked], [lengths[k] for k in ranked]
        batches = self._cut(order, lengths)
        if self.shuffle and self.bucket_by_length:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
        return batches

    def _cut(self, order: List[int], lengths: List[int]) -> List[List[int]]:
        if self.max_tokens is None:
            assert self.batch_size is not None
            return [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        batches: List[List[int]] = []
        current: List[int] = []
        longest = 0
        for index, length in zip(order, lengths, strict=True):
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


class _InMemoryBatches(torch.utils.data.Dataset):
    """Builds the batch of the given instance indices (in a worker, or in the main process)."""

    def __init__(self, instances: InstanceTable) -> None:
        self.instances = instances

    def __getitem__(self, indices: List[int]) -> TensorDict:
        return self.instances.batch(indices)


class _Plan(torch.utils.data.Sampler):
    """The index lists the persistent in-memory workers build next; set before each `iter()`."""

    def __init__(self) -> None:
        self.plan: List[List[int]] = []

    def __iter__(self) -> Iterator[List[int]]:
        return iter(self.plan)

    def __len__(self) -> int:
        return len(self.plan)


class _StreamingBatches(torch.utils.data.IterableDataset):
    """Reads `chunk_size` instances at a time and batches each chunk; in a worker, the reader reads only
    that worker's shard, of which this process (`shard` = (r, W)) keeps instances r, r+W, ...
    Persistent workers learn which pass to read from `pass_number`, a tensor in shared memory that the
    main process sets before each `iter()`."""

    def __init__(self, reader: DatasetReader, data_path: str, vocab: Vocabulary, batcher: _Batcher,
                 chunk_size: int, shard: Tuple[int, int]) -> None:
        self.reader, self.data_path, self.vocab, self.batcher = reader, data_path, vocab, batcher
        self.chunk_size, self.shard = chunk_size, shard
        self.pass_number = torch.zeros((), dtype=torch.long)

    def __iter__(self) -> Iterator[TensorDict]:
        return self.batches(int(self.pass_number))

    def batches(self, pass_number: int) -> Iterator[TensorDict]:
        instances = itertools.islice(self.reader.read(self.data_path), self.shard[0], None, self.shard[1])
        for chunk_index in itertools.count():
            chunk = InstanceList(list(itertools.islice(instances, self.chunk_size)))
            if not len(chunk):
                return
            chunk.index_with(self.vocab)
            for indices in self.batcher.batches(chunk, pass_number, chunk_index):
                yield chunk.batch(indices)


def _identity(batch: Any) -> Any:
    """The "collate" function: batches are built whole, by the dataset."""
    return batch
