"""The FastAPI application of `lmlab serve`: a `Predictor` behind JSON endpoints and the autocomplete page.

Endpoints (OpenAPI docs at /docs)
    POST /predict         one predictor input (a `lmlab predict` line) -> its output
    POST /predict_batch   a list of inputs -> a list of outputs; a bad item gets {"error"} in its place
    POST /generate        {"sentence", generate options at the top level, "stream"}; with "stream": true
                          a server-sent event `data: {"token"}` per token, then `data: {"done", "generated"}`
    GET  /health, /info (predictor and settings), /metrics (Prometheus text), / (the page), /static/*
Errors
    {"error": "input error at request: ...", "request_id"}: 400 (not UTF-8, empty, not JSON), 413 (body
    over the limit), 422 (the predictor's validation: unknown field, input too long, bad option). A
    failure inside the model is a 500 naming the request id, whose traceback is in the server's log; the
    server keeps serving. Every response carries an `X-Request-ID` header.
"""
import asyncio
import contextlib
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, AsyncGenerator, AsyncIterator, Awaitable, List, Optional, TypeVar, Union

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.routing import Mount, Route

from lmlab.common.errors import LmlabError
from lmlab.predictors.language_model import LanguageModelPredictor
from lmlab.predictors.predictor import JsonDict, Predictor
from lmlab.serving.batcher import MicroBatcher
from lmlab.serving.generation import GenerateRequest, GenerationStreams
from lmlab.serving.metrics import RequestTracking, ServerMetrics
from lmlab.serving.requests import REQUEST, RequestError, error_text, invalid, read_json
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
    """

    max_batch_size: int = 32
    max_wait_ms: float = 5.0
    max_body_bytes: int = 1_000_000


class InternalError(Exception):
    """A request failed for a reason that is not the user's (its cause is the original exception)."""

    def __init__(self, request_id: str) -> None:
        super().__init__(f"internal error (request id {request_id}); the server's log has the traceback")
        self.request_id = request_id


class PredictionService:
    """The predictor behind the endpoints: `validate` on its own thread (tokenising a large body takes a while,
    and the event loop must not wait for it), `predict_requests` through the micro-batcher on the model
    thread, and for a language model the steps of streamed generation (`streams`) on that thread too. So a
    predictor's `validate` may run while its model works, and the model runs one call at a time."""

    def __init__(self, predictor: Predictor, settings: ServerSettings, metrics: ServerMetrics) -> None:
        self.predictor = predictor
        self.batcher = MicroBatcher(predictor.predict_requests, settings.max_batch_size, settings.max_wait_ms,
                                    metrics.observe_batch)
        self.streams = GenerationStreams(predictor, self.batcher.run_on_model_thread,
                                         metrics.observe_generation_step) \
            if isinstance(predictor, LanguageModelPredictor) else None
        self._validation = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lmlab-validate")

    def start(self) -> None:
        self.batcher.start()
        if self.streams is not None:
            self.streams.start()

    async def close(self) -> None:
        if self.streams is not None:
            await self.streams.close()
        await self.batcher.close()
        self._validation.shutdown(wait=True)

    async def predict(self, inputs: JsonDict) -> JsonDict:
        """One input's output; an invalid input raises the predictor's `LmlabError`."""
        return await self.batcher.submit(await self.validate(inputs))

    async def validate(self, inputs: JsonDict) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._validation, self.predictor.validate, inputs)

    async def predict_each(self, items: List[JsonDict]) -> List[Union[JsonDict, LmlabError]]:
        """Each item's output, or its validation error; valid items join the micro-batches separately."""
        validated = await asyncio.get_running_loop().run_in_executor(self._validation, self._validate_each, items)
        return await asyncio.gather(*(self._answer(request) for request in validated))

    async def _answer(self, request: Any) -> Union[JsonDict, LmlabError]:
        return request if isinstance(request, LmlabError) else await self.batcher.submit(request)

    def _validate_each(self, items: List[JsonDict]) -> List[Any]:
        validated: List[Any] = []
        for item in items:
            try:
                validated.append(self.predictor.validate(item))
            except LmlabError as err:
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

    async def body_of(request: Request) -> Any:
        return await read_json(request.stream(), request.headers.get("content-length"), settings.max_body_bytes)

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

    @app.post("/predict", openapi_extra=_json_body({"sentence": "the cat sat on the", "top_k": 5}))
    async def predict(request: Request) -> JSONResponse:
        """One predictor input (the JSON of a `lmlab predict` line) -> its output."""
        return JSONResponse(await guarded(request, service.predict(await body_of(request))))

    @app.post("/predict_batch", openapi_extra=_json_body([{"sentence": "the cat"}, {"sentence": "the dog"}]))
    async def predict_batch(request: Request) -> JSONResponse:
        """A list of predictor inputs -> a list of outputs, in order; an invalid item gets {"error"}."""
        items = await body_of(request)
        if not isinstance(items, list):
            raise RequestError(422, f"expected a JSON list, found {type(items).__name__}")
        if not items:
            raise RequestError(422, "empty list")
        outputs = await guarded(request, service.predict_each(items))
        return JSONResponse([_item_json(output, f"{REQUEST}[{i}]") for i, output in enumerate(outputs)])

    @app.post("/generate", openapi_extra=_json_body({"sentence": "the cat", "max_tokens": 20, "temperature": 0.8,
                                                     "stream": True}))
    async def generate(request: Request) -> Response:
        """A continuation of "sentence"; generate options at the top level; "stream": true for server-sent events."""
        wanted = GenerateRequest.from_json(await body_of(request))
        if not wanted.stream:
            return JSONResponse(await guarded(request, service.predict(wanted.predictor_input())))
        if service.streams is None:
            raise RequestError(422, f"the {info['predictor']} predictor does not generate text")
        validated = await guarded(request, service.validate(wanted.predictor_input()))  # errors before the stream
        # joins the running batch now, before the response starts, so its first token comes with the next step
        tokens = service.streams.open(validated)
        events = _token_events(tokens, metrics, request.state.request_id)
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


def _item_json(output: Union[JsonDict, LmlabError], location: str) -> JsonDict:
    return {"error": error_text(output, location)} if isinstance(output, LmlabError) else output


async def _token_events(tokens: AsyncGenerator[str, None], metrics: ServerMetrics,
                        request_id: str) -> AsyncIterator[str]:
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
    yield _event({"done": True, "generated": {"tokens": generated, "text": " ".join(generated)}})


def _event(data: JsonDict) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def _json_body(example: Any) -> JsonDict:
    """OpenAPI description of a JSON body read by hand (the predictor, not a schema, validates it)."""
    return {"requestBody": {"required": True, "content": {"application/json": {"example": example}}}}
