"""`/generate`: a prompt and the `language_model` predictor's generate options at the top level.

    {"sentence": "the cat", "max_tokens": 20, "temperature": 0.8, "stream": true}

`GenerateRequest.from_json` splits such a body into the predictor's own input (`{"sentence", "generate":
{...}}`, so the predictor validates it and words the errors exactly as `lmlab predict` does) and the
`stream` flag. Without streaming the continuation is one predictor call.

With streaming, `GenerationStreams` keeps every stream of the server in one running batch of
continuations (`LanguageModelPredictor.continuations()`) and advances it by one batched model step at a
time on the model thread (the micro-batcher's: the model runs one call at a time, so a step, never a
whole continuation, is the longest a scoring batch waits). Between steps, new streams join the batch
(their prompts are read together, at most `max_joining` per step, so a burst of new streams does not make
one long step) and streams whose client went away leave it. A non-streamed continuation of the server
runs in this batch too (`lmlab.serving.app`), collected to its end.
Each token is sent as soon as its step ends. A seeded stream makes exactly the tokens of the same
request without streaming: the predictor draws each seeded continuation from its own generator,
whatever the batch.
"""
import asyncio
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, AsyncGenerator, Awaitable, Callable, Dict, List, Optional, Tuple, Union, cast

from lmlab.predictors.continuations import Continuations
from lmlab.predictors.language_model import LanguageModelPredictor, LanguageModelRequest
from lmlab.predictors.predictor import JsonDict
from lmlab.serving.requests import RequestError

logger = logging.getLogger(__name__)


@dataclass
class GenerateRequest:
    """A /generate body: the predictor's `sentence`, its generate `options` (unchecked) and `stream`."""

    sentence: Any
    options: Dict[str, Any]
    stream: bool

    @classmethod
    def from_json(cls, body: Any) -> "GenerateRequest":
        if not isinstance(body, dict):
            raise RequestError(422, f"expected a JSON object, found {type(body).__name__}")
        options = {key: value for key, value in body.items() if key not in ("sentence", "stream")}
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise RequestError(422, f'"stream" must be true or false, found {stream!r}')
        return cls(body.get("sentence"), options, stream)

    def predictor_input(self) -> JsonDict:
        """The whole continuation as one `language_model` predictor input."""
        sentence = {} if self.sentence is None else {"sentence": self.sentence}
        return {**sentence, "generate": self.options, "score": False, "next_token": False}


_FINISHED = object()  # a stream's last queue item


@dataclass
class _Stream:
    request: LanguageModelRequest
    queue: "asyncio.Queue[Any]" = field(default_factory=asyncio.Queue)  # tokens, then _FINISHED or an exception
    row: Optional[int] = None  # its row in the running batch, once it has joined
    finished: bool = False  # its last item is queued
    left: bool = False  # its reader stopped before the end: take it out of the batch
    whole: bool = False  # delivered once at the end: tokens go to `made`, the queue gets only the last item
    made: List[str] = field(default_factory=list)


class GenerationStreams:
    """All the streamed continuations of one server, advanced together; see the module docstring.

    Parameters
        predictor: the language_model predictor whose `continuations()` hold the batch.
        run: runs a function on the model thread and returns its result (`MicroBatcher.run_on_model_thread`).
        on_step: called on the event loop after each step with the number of rows it advanced.
        max_joining: most streams that join the batch before one step (the others join at the next steps).
    Contract
        `start()` inside the running event loop, `close()` at the end. `open(request)` puts a validated
        request with generate options in the queue to join the batch at once and returns its tokens as
        they are made; leaving the iterator early takes the request out of the batch. `complete(request)`
        joins the same way and returns the whole continuation when it ends. A failure inside
        the model fails only the streams it belongs to: a batch whose step raises is stepped again in
        halves, down to single rows (a step that raises changes nothing), and the rows that fail alone get
        the error; joining prompts are bisected the same way.
    """

    def __init__(self, predictor: LanguageModelPredictor, run: Callable[[Callable[[], Any]], Awaitable[Any]],
                 on_step: Optional[Callable[[int], None]] = None, max_joining: int = 32) -> None:
        if max_joining < 1:
            raise ValueError(f"max_joining must be positive, found {max_joining}")
        self._predictor = predictor
        self._run = run
        self._on_step = on_step
        self._max_joining = max_joining
        self._running = predictor.continuations()
        self._streams: Dict[int, _Stream] = {}  # by row id, the streams in the running batch
        self._joining: List[_Stream] = []  # opened, not yet in the batch; guarded by _lock (both threads use it)
        self._lock = threading.Lock()
        self._wake: Optional[asyncio.Event] = None
        self._worker: "Optional[asyncio.Task[None]]" = None

    def start(self) -> None:
        self._wake = asyncio.Event()
        self._worker = asyncio.get_running_loop().create_task(self._work(), name="lmlab-generation")

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)

    def open(self, request: LanguageModelRequest) -> AsyncGenerator[str, None]:
        return self._tokens(self._join_soon(_Stream(request)))

    async def complete(self, request: LanguageModelRequest) -> List[str]:
        """The whole continuation of `request`, made in the running batch and delivered once at its end (no
        wake-up of the event loop per token); cancelling the wait takes it out of the batch."""
        stream = self._join_soon(_Stream(request, whole=True))
        try:
            last = await stream.queue.get()
        finally:
            self._leave(stream)
        if isinstance(last, BaseException):
            raise last
        return stream.made

    def _join_soon(self, stream: _Stream) -> _Stream:
        if self._wake is None:
            raise RuntimeError("GenerationStreams used before start()")
        with self._lock:
            self._joining.append(stream)
        self._wake.set()
        return stream

    def _leave(self, stream: _Stream) -> None:
        """Take `stream` out of the batch at the next step, unless it has finished."""
        if not stream.finished:
            stream.left = True
            assert self._wake is not None
            self._wake.set()

    async def _tokens(self, stream: _Stream) -> AsyncGenerator[str, None]:
        try:
            while True:
                item = await stream.queue.get()
                if item is _FINISHED:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self._leave(stream)

    async def _work(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._joining and not self._streams:
                continue
            try:
                deliveries, size = await self._run(self._tick)
            except Exception as err:  # a bug outside the isolated model calls: fail every stream, start afresh
                logger.error("a generation step failed; ending its streams", exc_info=err)
                with self._lock:
                    failed, self._joining = [*self._streams.values(), *self._joining], []
                deliveries, size = [(stream, err) for stream in failed], 0
                self._streams = {}
                self._running = self._predictor.continuations()
            if self._on_step is not None and size:
                self._on_step(size)
            for stream, item in deliveries:
                if item is _FINISHED or isinstance(item, BaseException):
                    stream.finished = True
                elif stream.whole:
                    stream.made.append(item)
                    continue
                stream.queue.put_nowait(item)
            if self._streams or self._joining:
                self._wake.set()

    # --- on the model thread -------------------------------------------------------------------------
    def _tick(self) -> Tuple[List[Tuple[_Stream, Any]], int]:
        """Drop the streams that left, add (up to `max_joining` of) those waiting to join, step the batch:
        ([(stream, a token, _FINISHED or an exception)], the number of rows stepped). Who joins and leaves
        is decided now, when the model thread is free, not when the step was queued."""
        with self._lock:
            waiting = [stream for stream in self._joining if not stream.left]
            joining, self._joining = waiting[:self._max_joining], waiting[self._max_joining:]
        leaving = [stream for stream in self._streams.values() if stream.left]
        self._running.drop(cast(int, stream.row) for stream in leaving)
        for stream in leaving:
            del self._streams[cast(int, stream.row)]
        deliveries: List[Tuple[_Stream, Any]] = list(self._join(joining))
        size = len(self._running)
        for row_id, answer in self._step(self._running).items():
            stream = self._streams[row_id]
            if isinstance(answer, str):
                deliveries.append((stream, answer))
                if row_id in self._running:
                    continue
            deliveries.append((stream, answer if isinstance(answer, Exception) else _FINISHED))
            del self._streams[row_id]
        return deliveries, size

    def _join(self, joining: List[_Stream]) -> List[Tuple[_Stream, Exception]]:
        """Add the streams' prompts to the batch, together; if that fails, each half (down to single
        streams). The failures."""
        if not joining:
            return []
        try:
            rows = self._running.add([stream.request.prefix for stream in joining],
                                     [cast(Dict[str, Any], stream.request.generate) for stream in joining])
        except Exception as err:
            if len(joining) == 1:
                return [(joining[0], err)]
            middle = len(joining) // 2
            return self._join(joining[:middle]) + self._join(joining[middle:])
        for stream, row in zip(joining, rows, strict=True):
            stream.row = row
            self._streams[row] = stream
        return []

    def _step(self, running: Continuations) -> Dict[int, Union[Optional[str], Exception]]:
        """`running.step()`; if it raises, each half stepped apart (down to single rows), and a row that fails
        alone is dropped."""
        try:
            return dict(running.step())
        except Exception as err:
            if len(running) == 1:
                [row_id] = running.ids
                running.drop([row_id])
                return {row_id: err}
            answers: Dict[int, Union[Optional[str], Exception]] = {}
            ids = running.ids
            for half in (ids[:len(ids) // 2], ids[len(ids) // 2:]):
                apart = running.split(half)
                answers.update(self._step(apart))
                running.merge(apart)
            return answers
