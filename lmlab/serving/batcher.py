"""`MicroBatcher`: concurrent requests merged into one model call, run off the event loop.

Each `submit(item, owner)` waits in its owner's queue (an owner is one HTTP request: a `/predict_batch`
submits all its items under one owner). A single worker task takes items round-robin over the owners
that have items waiting, one from each in turn, and gathers them until the batch holds `max_batch_size`
items or its first item has waited `max_wait_ms`; so a request of a thousand items gets one place in
each batch while others wait, instead of every place in the next thirty. It then runs the whole batch
in one call on a dedicated worker thread, so the event loop keeps serving (and queueing) while the model
works. Under load the first item has usually waited its time already while the previous batch ran, so
batches form without added delay; at low load a lone request waits at most `max_wait_ms`.

A batch whose call raises is split in halves and each half retried, down to single items, so one
poisoned request fails alone, its batch companions are still answered, and a half that succeeds is not
run again: one bad item among n costs about 2 log2(n) extra calls, not n.
"""
import asyncio
import logging
import time
from collections import OrderedDict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Deque, Hashable, List, Optional, TypeVar

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class _Waiting:
    item: Any
    future: "asyncio.Future[Any]"
    arrival: float  # time.monotonic() when submitted


class MicroBatcher:
    """Runs `run_batch(items) -> results` (one result per item, in order) over merged concurrent submissions.

    Parameters
        run_batch: the model call; runs on the batcher's worker thread, one batch at a time.
        max_batch_size: most items per call (1 turns batching off).
        max_wait_ms: longest time the oldest waiting item is held back for companions.
        on_batch: called on the event loop after each call with (batch size, seconds the call took).
    Contract
        `start()` inside the running event loop before the first `submit`; `close()` after the last.
        `submit(item, owner)` returns the item's result, or raises the exception its call raised; items of
        different owners are taken round-robin (no owner: the item is its own owner, first come first served).
        `run_on_model_thread(function)` runs other model work on the same thread, in turn with the batches.
    """

    def __init__(self, run_batch: Callable[[List[Any]], List[Any]], max_batch_size: int, max_wait_ms: float,
                 on_batch: Optional[Callable[[int, float], None]] = None) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be positive, found {max_batch_size}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must not be negative, found {max_wait_ms}")
        self.run_batch = run_batch
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000
        self.on_batch = on_batch
        # the owners with items waiting, in turn order: the front owner gives the next item, then goes last
        self._waiting: "OrderedDict[Hashable, Deque[_Waiting]]" = OrderedDict()
        self._arrived: Optional[asyncio.Event] = None  # set when an item is queued
        self._worker: "Optional[asyncio.Task[None]]" = None
        # One thread: the model runs one batch at a time, and torch parallelises inside the call.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lmlab-model")

    def start(self) -> None:
        self._arrived = asyncio.Event()
        self._worker = asyncio.get_running_loop().create_task(self._work(), name="lmlab-batcher")

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        self._executor.shutdown(wait=True)

    async def run_on_model_thread(self, function: Callable[[], T]) -> T:
        """`function()` on the batcher's model thread, between batches (for model work that is not a batch of
        items, such as the steps of streamed generation): the model still runs one call at a time."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, function)

    async def submit(self, item: Any, owner: Optional[Hashable] = None) -> Any:
        if self._arrived is None:
            raise RuntimeError("MicroBatcher.submit before start()")
        future: "asyncio.Future[Any]" = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(object() if owner is None else owner, deque()).append(
            _Waiting(item, future, time.monotonic()))
        self._arrived.set()
        return await future

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._arrival(None)
            batch = await self._gather(self._take())
            # A request whose client went away has a cancelled future: do not spend the model on it.
            batch = [waiting for waiting in batch if not waiting.future.done()]
            if not batch:
                continue
            started = time.perf_counter()
            results = await loop.run_in_executor(self._executor, self._run_isolated,
                                                 [waiting.item for waiting in batch])
            if self.on_batch is not None:
                self.on_batch(len(batch), time.perf_counter() - started)
            for waiting, result in zip(batch, results, strict=True):
                if waiting.future.done():
                    continue
                if isinstance(result, BaseException):
                    waiting.future.set_exception(result)
                else:
                    waiting.future.set_result(result)

    async def _gather(self, first: _Waiting) -> List[_Waiting]:
        """`first` and the items that join it before the batch is full or `first` has waited long enough."""
        batch = [first]
        deadline = first.arrival + self.max_wait
        while len(batch) < self.max_batch_size:
            if self._waiting:
                batch.append(self._take())
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not await self._arrival(remaining):
                break
        return batch

    async def _arrival(self, timeout: Optional[float]) -> bool:
        """Whether an item is waiting, after waiting at most `timeout` seconds for one (None: no limit)."""
        assert self._arrived is not None
        while not self._waiting:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout)
            except asyncio.TimeoutError:
                return False
        return True

    def _take(self) -> _Waiting:
        """The front owner's oldest item; that owner goes to the back of the turn order (or leaves it)."""
        owner, queue = next(iter(self._waiting.items()))
        waiting = queue.popleft()
        if queue:
            self._waiting.move_to_end(owner)
        else:
            del self._waiting[owner]
        return waiting

    def _run_isolated(self, items: List[Any]) -> List[Any]:
        """Results of one call over `items`; if it raises, each half's results (down to single items: the
        exception of an item that fails alone)."""
        try:
            results = self.run_batch(items)
        except Exception as err:
            if len(items) == 1:
                return [err]
            logger.warning("a batch of %d failed (%s: %s); retrying it in halves", len(items), type(err).__name__, err)
            middle = len(items) // 2
            return self._run_isolated(items[:middle]) + self._run_isolated(items[middle:])
        if len(results) != len(items):
            mismatch = RuntimeError(f"run_batch returned {len(results)} results for {len(items)} items")
            return [mismatch] * len(items)
        return results
