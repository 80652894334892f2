"""Prometheus metrics of a server, and the ASGI middleware that gives every request an id and records it.

Each app owns its `CollectorRegistry` (not prometheus-client's global one), so one process can build
several apps (tests do) and `/metrics` shows only its own app. Names:

    lmlab_requests_total{endpoint}                 requests answered
    lmlab_request_errors_total{endpoint,status}    of which 4xx/5xx (and streams that failed midway, as 500)
    lmlab_request_latency_seconds{endpoint}        histogram, from the request's arrival to its last byte (buckets
                                                   every 100-200 ms up to 1 s, so a p99 target can be read off)
    lmlab_batch_size                               histogram of items per model call
    lmlab_batch_seconds                            histogram of the model call's duration
    lmlab_generated_tokens_total                   tokens sent by streamed /generate
    lmlab_generation_batch_size                    histogram of streams per generation step (one token each)
"""
import time
import uuid
from typing import Any, Awaitable, Callable, Collection, Dict, MutableMapping

from prometheus_client import CollectorRegistry, Counter, Histogram

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
REQUEST_ID_HEADER = "x-request-id"


class ServerMetrics:
    """The metrics of one app, in their own registry; see the module docstring for the names."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("lmlab_requests", "Requests answered", ["endpoint"], registry=self.registry)
        self.errors = Counter("lmlab_request_errors", "Requests answered with an error status",
                              ["endpoint", "status"], registry=self.registry)
        self.latency = Histogram("lmlab_request_latency_seconds", "Time from a request's arrival to its last byte",
                                 ["endpoint"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_size = Histogram("lmlab_batch_size", "Items per model call", buckets=BATCH_SIZE_BUCKETS,
                                    registry=self.registry)
        self.batch_seconds = Histogram("lmlab_batch_seconds", "Duration of a model call", registry=self.registry)
        self.generated_tokens = Counter("lmlab_generated_tokens", "Tokens sent by streamed /generate",
                                        registry=self.registry)
        self.generation_batch_size = Histogram("lmlab_generation_batch_size", "Streams advanced by one generation step",
                                               buckets=BATCH_SIZE_BUCKETS, registry=self.registry)

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint).inc()
        self.latency.labels(endpoint).observe(seconds)
        if status >= 400:
            self.errors.labels(endpoint, str(status)).inc()

    def observe_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.batch_seconds.observe(seconds)

    def observe_generation_step(self, size: int) -> None:
        self.generation_batch_size.observe(size)


class RequestTracking:
    """ASGI middleware: a fresh request id (in `request.state.request_id` and the `X-Request-ID` response
    header) and one observation per request in `metrics`, labelled by path when it is one of `endpoints`
    (anything else is "other", so random paths cannot grow the label set)."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics, endpoints: Collection[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.endpoints = frozenset(endpoints)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex[:16]
        state: Dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        endpoint = scope["path"] if scope["path"] in self.endpoints else "other"
        started = time.perf_counter()
        status = 500

        async def tracked_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []),
                                      (REQUEST_ID_HEADER.encode(), request_id.encode())]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                self.metrics.observe_request(endpoint, status, time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        except Exception:  # a bug: the app's outermost handler answers 500; count it here
            self.metrics.observe_request(endpoint, 500, time.perf_counter() - started)
            raise
