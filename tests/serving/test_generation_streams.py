"""`GenerationStreams`: streams share one running batch, join it between steps, leave it when their reader goes,
and a failure inside the model fails only its own stream. The steps run under the test's control (`Steps`)."""
import asyncio
from typing import Any, AsyncGenerator, Callable, Dict, List, cast

import pytest

from lmlab.data import SimpleLanguageModelingDatasetReader
from lmlab.predictors.language_model import LanguageModelPredictor
from lmlab.predictors.predictor import Predictor
from lmlab.serving.generation import GenerationStreams

A = {"sentence": "the cat sat", "generate": {"max_tokens": 6, "seed": 11, "temperature": 1.3}}
B = {"sentence": "the dog", "generate": {"max_tokens": 4, "seed": 12}}


class Steps:
    """Stands in for the model thread: each generation step waits until `step()` lets it run (or `free()`)."""

    def __init__(self) -> None:
        self.permits: "asyncio.Queue[None]" = asyncio.Queue()
        self.done: "asyncio.Queue[None]" = asyncio.Queue()
        self.free_running = False

    async def run(self, function: Callable[[], Any]) -> Any:
        if not self.free_running:
            await self.permits.get()
        result = function()
        self.done.put_nowait(None)
        return result

    async def step(self) -> None:
        """Let one step run, and return once its tokens are delivered."""
        self.permits.put_nowait(None)
        await self.done.get()

    def free(self) -> None:
        self.free_running = True
        self.permits.put_nowait(None)


async def _rest(tokens: AsyncGenerator[str, None]) -> List[str]:
    return [token async for token in tokens]


def _no_end_token(archive) -> LanguageModelPredictor:
    """The archive's model with a reader without end tokens: every continuation makes exactly max_tokens."""
    return LanguageModelPredictor(archive.model, SimpleLanguageModelingDatasetReader(start_tokens=["<s>"]))


def test_a_stream_joins_a_running_batch_and_each_makes_its_non_streamed_tokens(archive):
    predictor = _no_end_token(archive)
    expected = [predictor.predict_json(item)["generated"]["tokens"] for item in (A, B)]

    async def main() -> List[List[str]]:
        steps, sizes = Steps(), cast(List[int], [])
        streams = GenerationStreams(predictor, steps.run, sizes.append)
        streams.start()
        first = streams.open(predictor.validate(A))
        await steps.step()  # A alone: its prompt and its first token
        made = [await first.__anext__()]
        second = streams.open(predictor.validate(B))
        await steps.step()  # B joins: one step advances both
        assert sizes == [1, 2]
        steps.free()
        rest = await asyncio.gather(_rest(first), _rest(second))
        await streams.close()
        assert sizes[:5] == [1, 2, 2, 2, 2] and set(sizes[5:]) == {1}  # B is done after 4 tokens, A goes on
        return [made + rest[0], rest[1]]

    assert asyncio.run(main()) == expected
    assert [len(tokens) for tokens in expected] == [6, 4]


def test_a_stream_whose_reader_leaves_is_taken_out_of_the_batch(archive):
    predictor = _no_end_token(archive)

    async def main() -> List[int]:
        steps, sizes = Steps(), cast(List[int], [])
        streams = GenerationStreams(predictor, steps.run, sizes.append)
        streams.start()
        leaving, staying = streams.open(predictor.validate(A)), streams.open(predictor.validate(B))
        await steps.step()
        await leaving.__anext__()
        await leaving.aclose()  # the client went away after one token
        steps.free()
        assert len(await _rest(staying)) == 4
        await streams.close()
        return sizes

    assert asyncio.run(main()) == [2, 1, 1, 1]  # A, which wanted 6 tokens, was dropped after the first step


def test_a_failure_inside_the_model_fails_only_its_own_stream(archive):
    """"boom" makes the serving_test predictor's steps raise; the batch is stepped again row by row."""
    predictor = Predictor.from_archive(archive, "serving_test")
    plain = Predictor.from_archive(archive, "language_model")
    good = {"sentence": "the cat", "generate": {"max_tokens": 5, "seed": 3}}
    bad = {"sentence": "boom the dog", "generate": {"max_tokens": 5}}

    async def main() -> Dict[str, Any]:
        steps = Steps()
        streams = GenerationStreams(predictor, steps.run)
        streams.start()
        tokens = streams.open(predictor.validate(good))
        failing = streams.open(predictor.validate(bad))
        steps.free()
        with pytest.raises(RuntimeError, match="boom"):
            await _rest(failing)
        made = await _rest(tokens)
        again = await _rest(streams.open(predictor.validate(good)))  # still serving
        await streams.close()
        return {"made": made, "again": again}

    results = asyncio.run(main())
    expected = plain.predict_json(good)["generated"]["tokens"]
    assert results == {"made": expected, "again": expected}
