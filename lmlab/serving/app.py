"""The FastAPI application of `lmlab serve`: a `Predictor` behind JSON endpoints and the autocomplete page.

Endpoints (OpenAPI docs at /docs)
    POST /predict         one predictor input (a `lmlab predict` line) -> its output
    POST /predict_batch   a list of inputs -> a list of outputs; a bad item gets {"error"} in its place, an item
                          that fails inside the model {"error": "internal error (request id ...)"}
    POST /generate        {"sentence", generate options at the top level, "stream"}; with "stream": true
                          a server-sent event `data: {"token"}` per token, then `data: {"done", "generated"}`
    GET  /health, /info (predictor and settings), /metrics (Prometheus text), / (the page), /static/*
Errors
    {"error": "input error at request: ...", "request_id"}: 400 (not UTF-8, empty, not strict JSON), 413
    (body over --max-body-bytes, or a /predict_batch over --max-items-per-request), 422 (the predictor's
    validation: unknown field, input too long, an option out of range; or more tokens to generate than
    --max-generated-tokens). A failure inside the model is a 500 naming the request id, whose traceback is
    in the server's log; the server keeps serving. Unknown paths and methods are a 404/405 in the same
    shape. Every response is strict JSON (an answer that cannot be, a bug, is a 500) and carries an
    `X-Request-ID` header.
Fairness
    Each request's items take turns with other requests' in the micro-batches (`MicroBatcher`), and a
    continuation, streamed or not, runs in the running generation batch (`GenerationStreams`), a token per
    step: scoring and next-token requests wait for at most one step of it, never for a whole continuation.
"""
import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, AsyncGenerator, AsyncIterator, Awaitable, Hashable, List, Optional, TypeVar, Union, cast

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException
from starlette.routing import Mount, Route

from lmlab.common import strict_json
from lmlab.common.errors import LmlabError
from lmlab.predictors.language_model import LanguageModelPredictor, LanguageModelRequest
from lmlab.predictors.predictor import JsonDict, Predictor
from lmlab.serving.batcher import MicroBatcher
from lmlab.serving.generation import GenerateRequest, GenerationStreams
from lmlab.serving.metrics import RequestTracking, ServerMetrics
from lmlab.serving.requests import REQUEST, RequestError, error_text, invalid, parse_json, read_body
from lmlab.version import VERSION

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
T = TypeVar("T")


@dataclass
class ServerSettings:
    """How a server batches and what it accepts.

    max_batch_size: most requests merged into one model call (1: no micro-batching).
    max_wait_ms: longest a request waits for others to join its batch.
    max_body_bytes: largest request body accepted (413 above it).
    max_items_per_request: most items in one /predict_batch (413 above it).
    max_generated_tokens: most tokens one request may generate, its items' generate max_tokens summed
        (422 above it).
    """

    max_batch_size: int = 32
    max_wait_ms: float = 5.0
    max_body_bytes: int = 1_000_000
    max_items_per_request: int = 256
    max_generated_tokens: int = 4096


class InternalError(Exception):
    """A request failed for a reason that is not the user's (its cause is the original exception)."""

    def __init__(self, request_id: str) -> None:
        super().__init__(f"internal error (request id {request_id}); the server's log has the traceback")
        self.request_id = request_id


VALIDATION_CHUNK = 16
"""Items of a /predict_batch validated per turn of the validation thread, so other requests' turns come between."""
LARGE_BODY_BYTES = 65_536
"""Bodies larger than this are validated on a thread of their own: tokenising a 1 MB sentence takes ~50 ms, which
small requests should not wait for."""


@dataclass
class Body:
    """A request's JSON `value` and whether its body was over `LARGE_BODY_BYTES`."""

    value: Any
    large: bool


class PredictionService:
    """The predictor behind the endpoints: `validate` off the event loop (tokenising a large body takes a while,
    and the event loop must not wait for it) on one thread for small bodies and another for large ones (so a
    small request never waits for a 1 MB sentence to be tokenised), `predict_requests` through the
    micro-batcher on the model thread, and for a language model the steps of generation (`streams`,
    streamed or not) on that thread too. So a predictor's `validate` may run while its model works, and
    two validations at once (validate must not change shared state); the model runs one call at a time.
    Each request is one owner of the micro-batcher's turns."""

    def __init__(self, predictor: Predictor, settings: ServerSettings, metrics: ServerMetrics) -> None:
        self.predictor = predictor
        self.settings = settings
        self.batcher = MicroBatcher(predictor.predict_requests, settings.max_batch_size, settings.max_wait_ms,
                                    metrics.observe_batch)
        self.streams = GenerationStreams(predictor, self.batcher.run_on_model_thread,
                                         metrics.observe_generation_step, settings.max_batch_size) \
            if isinstance(predictor, LanguageModelPredictor) else None
        self._validation = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lmlab-validate")
        self._large_validation = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lmlab-validate-large")

    def start(self) -> None:
        self.batcher.start()
        if self.streams is not None:
            self.streams.start()

    async def close(self) -> None:
        if self.streams is not None:
            await self.streams.close()
        await self.batcher.close()
        self._validation.shutdown(wait=True)
        self._large_validation.shutdown(wait=True)

    async def predict(self, body: Body, owner: Hashable) -> JsonDict:
        """One input's output; an invalid input raises the predictor's `LmlabError`."""
        request = await self.validate(body)
        self.check_generation_budget([request])
        return await self._run(request, owner)

    async def validate(self, body: Body) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._validator(body), self.predictor.validate,
                                                                body.value)

    def _validator(self, body: Body) -> ThreadPoolExecutor:
        return self._large_validation if body.large else self._validation

    def check_generation_budget(self, requests: List[Any]) -> None:
        """A 422 when `requests` (one HTTP request's) may generate more than `max_generated_tokens` in all."""
        total = sum(self.predictor.tokens_to_generate(request) for request in requests)
        if total > self.settings.max_generated_tokens:
            raise RequestError(422, f"{total} tokens to generate (max_tokens summed over the request) > "
                                    f"max_generated_tokens {self.settings.max_generated_tokens}")

    async def predict_each(self, body: Body, owner: Hashable) -> List[Union[JsonDict, Exception]]:
        """Each item's output (of the list `body.value`), or its validation error (`LmlabError`), or the
        exception that failed it inside the model (or a bug in its validation): one item's failure is never
        another's."""
        loop, items = asyncio.get_running_loop(), body.value
        validated: List[Any] = []
        for start in range(0, len(items), VALIDATION_CHUNK):
            validated += await loop.run_in_executor(self._validator(body), self._validate_each,
                                                    items[start:start + VALIDATION_CHUNK])
        self.check_generation_budget([request for request in validated if not isinstance(request, Exception)])
        results = await asyncio.gather(*(self._answer(request, owner) for request in validated),
                                       return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, Exception):
                raise result  # cancelled: not an item's failure
        return cast(List[Union[JsonDict, Exception]], results)

    async def _answer(self, request: Any, owner: Hashable) -> Union[JsonDict, Exception]:
        return request if isinstance(request, Exception) else await self._run(request, owner)

    async def _run(self, request: Any, owner: Hashable) -> JsonDict:
        """A continuation joins the running generation batch (its score and next tokens, if asked for, go
        through the micro-batcher meanwhile); anything else is a micro-batch item."""
        if self.streams is None or not isinstance(request, LanguageModelRequest) or not request.generate:
            return await self.batcher.submit(request, owner)
        generating = asyncio.ensure_future(self.streams.complete(request))
        try:
            output: JsonDict = {"tokens": request.tokens}
            if request.score or request.next_token:
                output = await self.batcher.submit(dataclasses.replace(request, generate=None), owner)
            tokens = await generating
        finally:
            generating.cancel()  # nothing when it has finished; else takes the continuation out of the batch
        return {**output, "generated": {"tokens": tokens, "text": self.predictor.detokenize(tokens)}}

    def _validate_each(self, items: List[JsonDict]) -> List[Any]:
        validated: List[Any] = []
        for item in items:
            try:
                validated.append(self.predictor.validate(item))
            except Exception as err:  # LmlabError: the item's input error; anything else: a bug, the item's alone
                validated.append(err)
        return validated


def create_app(predictor: Predictor, settings: Optional[ServerSettings] = None, archive: str = "") -> FastAPI:
    """The application serving `predictor` (loaded from `archive`, which /info reports)."""
    settings = settings or ServerSettings()
    metrics = ServerMetrics()
    service = PredictionService(predictor, settings, metrics)
    info = {"predictor": Predictor.name_of(type(predictor)), "model": type(predictor.model).__name__,
            "archive": archive, "lmlab_version": VERSION, **asdict(settings)}

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            await service.close()

    app = FastAPI(title="lmlab", version=VERSION, lifespan=lifespan,
                  description=f"lmlab serving a {info['predictor']} predictor")

    async def body_of(request: Request) -> Body:
        raw = await read_body(request.stream(), request.headers.get("content-length"), settings.max_body_bytes)
        return Body(parse_json(raw), len(raw) > LARGE_BODY_BYTES)

    async def guarded(request: Request, work: Awaitable[T]) -> T:
        """`work`'s result; a predictor's input error becomes a 422, any other failure a 500 with the request id."""
        try:
            return await work
        except RequestError:
            raise
        except LmlabError as err:
            raise invalid(err) from None
        except Exception as err:
            raise InternalError(request.state.request_id) from err

    @app.exception_handler(RequestError)
    async def bad_request(request: Request, err: RequestError) -> JSONResponse:
        return JSONResponse({"error": err.lines()[0], "request_id": request.state.request_id}, err.status)

    @app.exception_handler(InternalError)
    async def internal_error(request: Request, err: InternalError) -> JSONResponse:
        logger.error("request %s (%s) failed", err.request_id, request.url.path, exc_info=err.__cause__)
        return JSONResponse({"error": str(err), "request_id": err.request_id}, 500)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException) -> JSONResponse:  # unknown path, wrong method
        return JSONResponse({"error": f"{err.detail} ({request.method} {request.url.path})",
                             "request_id": request.state.request_id}, err.status_code, headers=err.headers)

    @app.exception_handler(Exception)
    async def bug(request: Request, err: Exception) -> JSONResponse:
        """Any other exception (a bug outside `guarded`): the server error middleware answers with this, then
        logs the traceback (it re-raises)."""
        request_id = request.state.request_id
        return JSONResponse({"error": str(InternalError(request_id)), "request_id": request_id}, 500)

    def answer(request: Request, content: Any) -> Response:
        """`content` as strict JSON; one that cannot be (a non-finite number: a bug) is a 500."""
        try:
            return Response(strict_json.encode(content), media_type="application/json")
        except ValueError as err:
            raise InternalError(request.state.request_id) from err

    @app.post("/predict", openapi_extra=_json_body({"sentence": "the cat sat on the", "top_k": 5}))
    async def predict(request: Request) -> Response:
        """One predictor input (the JSON of a `lmlab predict` line) -> its output."""
        body = await body_of(request)
        return answer(request, await guarded(request, service.predict(body, request.state.request_id)))

    @app.post("/predict_batch", openapi_extra=_json_body([{"sentence": "the cat"}, {"sentence": "the dog"}]))
    async def predict_batch(request: Request) -> Response:
        """A list of predictor inputs -> a list of outputs, in order; an invalid item gets {"error"}, an item
        that fails inside the model {"error": "internal error (request id ...)"}."""
        body = await body_of(request)
        items = body.value
        if not isinstance(items, list):
            raise RequestError(422, f"expected a JSON list, found {type(items).__name__}")
        if not items:
            raise RequestError(422, "empty list")
        if len(items) > settings.max_items_per_request:
            raise RequestError(413, f"{len(items)} items > max_items_per_request {settings.max_items_per_request}")
        request_id = request.state.request_id
        outputs = await guarded(request, service.predict_each(body, request_id))
        parts = [_item_json(output, f"{REQUEST}[{i}]", request_id) for i, output in enumerate(outputs)]
        return Response(b"[" + b",".join(parts) + b"]", media_type="application/json")

    @app.post("/generate", openapi_extra=_json_body({"sentence": "the cat", "max_tokens": 20, "temperature": 0.8,
                                                     "stream": True}))
    async def generate(request: Request) -> Response:
        """A continuation of "sentence"; generate options at the top level; "stream": true for server-sent events."""
        body = await body_of(request)
        wanted = GenerateRequest.from_json(body.value)
        inputs = Body(wanted.predictor_input(), body.large)
        if not wanted.stream:
            return answer(request, await guarded(request, service.predict(inputs, request.state.request_id)))
        if service.streams is None:
            raise RequestError(422, f"the {info['predictor']} predictor does not generate text")
        validated = await guarded(request, service.validate(inputs))  # errors before the stream
        service.check_generation_budget([validated])
        # joins the running batch now, before the response starts, so its first token comes with the next step
        tokens = service.streams.open(validated)
        events = _token_events(tokens, metrics, request.state.request_id, service.predictor.detokenize)
        return StreamingResponse(events, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.get("/health")
    async def health() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.get("/info")
    async def describe() -> JSONResponse:
        """The predictor's registered name (the page picks its mode from it), the model and the settings."""
        return JSONResponse(info)

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    endpoints = [route.path for route in app.routes if isinstance(route, (Route, Mount))]
    app.add_middleware(RequestTracking, metrics=metrics, endpoints=endpoints)
    return app


def _item_json(output: Union[JsonDict, Exception], location: str, request_id: str) -> bytes:
    """One item of a /predict_batch answer as strict JSON: its output, its input error, or (a failure inside
    the model, or an output that is not strict JSON: logged) an internal error naming the request."""
    if isinstance(output, LmlabError):
        return strict_json.encode({"error": error_text(output, location)})
    try:
        if isinstance(output, Exception):
            raise output
        return strict_json.encode(output)
    except Exception as err:
        logger.error("request %s (/predict_batch) failed at %s", request_id, location, exc_info=err)
        return strict_json.encode({"error": str(InternalError(request_id))})


async def _token_events(tokens: AsyncGenerator[str, None], metrics: ServerMetrics, request_id: str,
                        detokenize: Callable[[List[str]], str]) -> AsyncIterator[str]:
    """Server-sent events: one `{"token"}` per token as it is made, then `{"done", "generated"}`, or `{"error"}`
    if the model fails midway (the status line, 200, has been sent by then). Closing the events closes
    `tokens`, which takes the continuation out of the running batch."""
    generated: List[str] = []
    try:
        async with contextlib.aclosing(tokens):
            async for token in tokens:
                generated.append(token)
                metrics.generated_tokens.inc()
                yield _event({"token": token})
    except Exception as err:  # CancelledError (the client left) is not an Exception: it ends the stream
        failure = InternalError(request_id)
        logger.error("request %s (/generate stream) failed", request_id, exc_info=err)
        metrics.errors.labels("/generate", "500").inc()
        yield _event({"error": str(failure), "request_id": request_id})
        return
    yield _event({"done": True, "generated": {"tokens": generated, "text": detokenize(generated)}})


def _event(data: JsonDict) -> str:
    return f"data: {strict_json.dumps(data)}\n\n"


def _json_body(example: Any) -> JsonDict:
    """OpenAPI description of a JSON body read by hand (the predictor, not a schema, validates it)."""
    return {"requestBody": {"required": True, "content": {"application/json": {"example": example}}}}
