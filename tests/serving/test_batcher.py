"""MicroBatcher: merging, limits, order, failure isolation and abandoned requests, with a plain function."""
import asyncio
import threading
from typing import Any, Awaitable, Callable, List

import pytest

from lmlab.serving.batcher import MicroBatcher


class Recorder:
    """`run_batch` that squares numbers, records each call's items and fails on a negative number."""

    def __init__(self) -> None:
        self.calls: List[List[int]] = []
        self.threads: List[str] = []

    def __call__(self, items: List[int]) -> List[int]:
        self.calls.append(list(items))
        self.threads.append(threading.current_thread().name)
        if any(item < 0 for item in items):
            raise ValueError(f"negative item in {items}")
        return [item * item for item in items]


def run(batcher: MicroBatcher, body: Callable[[], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        batcher.start()
        try:
            return await body()
        finally:
            await batcher.close()

    return asyncio.run(main())


def test_concurrent_submissions_are_merged_into_one_call_off_the_event_loop():
    recorder = Recorder()
    batcher = MicroBatcher(recorder, max_batch_size=8, max_wait_ms=10_000)
    results = run(batcher, lambda: asyncio.gather(*(batcher.submit(i) for i in range(8))))
    assert results == [i * i for i in range(8)]
    assert recorder.calls == [list(range(8))]  # one call, arrival order; full batch: no waiting for the deadline
    assert recorder.threads[0].startswith("lmlab-model") and recorder.threads[0] != threading.main_thread().name


def test_batches_hold_at_most_max_batch_size_and_results_keep_their_order():
    recorder = Recorder()
    seen = []
    batcher = MicroBatcher(recorder, max_batch_size=3, max_wait_ms=10_000,
                           on_batch=lambda size, seconds: seen.append(size))

    results = run(batcher, lambda: asyncio.gather(*(batcher.submit(i) for i in range(6))))
    assert results == [i * i for i in range(6)]
    assert recorder.calls == [[0, 1, 2], [3, 4, 5]] and seen == [3, 3]


def test_a_lone_request_waits_at_most_max_wait_ms():
    recorder = Recorder()
    batcher = MicroBatcher(recorder, max_batch_size=64, max_wait_ms=0)
    assert run(batcher, lambda: batcher.submit(7)) == 49
    assert recorder.calls == [[7]]


def test_max_batch_size_one_turns_batching_off():
    recorder = Recorder()
    batcher = MicroBatcher(recorder, max_batch_size=1, max_wait_ms=10_000)
    assert run(batcher, lambda: asyncio.gather(*(batcher.submit(i) for i in range(3)))) == [0, 1, 4]
    assert recorder.calls == [[0], [1], [2]]


def test_a_failing_batch_is_bisected_so_only_the_bad_item_fails_and_good_halves_are_not_rerun():
    recorder = Recorder()
    batcher = MicroBatcher(recorder, max_batch_size=8, max_wait_ms=10_000)
    items = [0, 1, 2, 3, 4, -1, 6, 7]

    async def body():
        return await asyncio.gather(*(batcher.submit(i) for i in items), return_exceptions=True)

    results = run(batcher, body)
    assert [r for i, r in enumerate(results) if i != 5] == [i * i for i in items if i >= 0]
    assert isinstance(results[5], ValueError) and "[-1]" in str(results[5])
    # halves that succeed are answered from their own call: 7 calls, where retrying each item alone took 9
    assert recorder.calls == [items, [0, 1, 2, 3], [4, -1, 6, 7], [4, -1], [4], [-1], [6, 7]]


def test_owners_take_turns_so_a_big_request_cannot_starve_a_small_one():
    recorder = Recorder()
    batcher = MicroBatcher(recorder, max_batch_size=4, max_wait_ms=10_000)

    async def body():
        big = [batcher.submit(i, owner="big") for i in range(10)]
        small = [batcher.submit(100 + i, owner="small") for i in range(2)]
        return await asyncio.gather(*big, *small)

    assert run(batcher, body) == [i * i for i in [*range(10), 100, 101]]
    # first come first served would have put the small request's items in the third and fourth calls
    assert recorder.calls[0] == [0, 100, 1, 101]
    assert recorder.calls[1:] == [[2, 3, 4, 5], [6, 7, 8, 9]]


def test_requests_abandoned_before_their_batch_runs_are_not_computed():
    recorder = Recorder()
    batcher = MicroBatcher(recorder, max_batch_size=3, max_wait_ms=10_000)

    async def body():
        kept = asyncio.ensure_future(batcher.submit(1))
        abandoned = asyncio.ensure_future(batcher.submit(2))
        await asyncio.sleep(0)  # both queued
        abandoned.cancel()
        return await asyncio.gather(kept, batcher.submit(3))

    assert run(batcher, body) == [1, 9]
    assert recorder.calls == [[1, 3]]


def test_wrong_settings_are_refused():
    with pytest.raises(ValueError, match="max_batch_size must be positive"):
        MicroBatcher(Recorder(), max_batch_size=0, max_wait_ms=1)
    with pytest.raises(ValueError, match="max_wait_ms must not be negative"):
        MicroBatcher(Recorder(), max_batch_size=1, max_wait_ms=-1)
