"""Reading a request body as JSON, with the limits and the one-line messages of `lmlab predict`.

A bad body raises `RequestError` carrying its HTTP status: 413 for a body over the size limit, 400 for
one that is not UTF-8, empty or not strict JSON (NaN, Infinity, a number out of range, a lone surrogate,
nesting deeper than Python's recursion limit: see `lmlab.common.strict_json`). The predictor's own
`InputError`s (unknown field, input too long, bad option) are 422. Every message reads like a `predict`
per-line error, located at the request (`input error at request: unknown field "topk"; did you mean
"top_k"?`) or at an item of a batch (`input error at request[2]: empty "sentence"`).
"""
from typing import Any, AsyncIterator, Optional

from lmlab.common import strict_json
from lmlab.common.errors import InputError, LmlabError

REQUEST = "request"
"""The location named in errors about a request body (items of a batch are `request[i]`)."""


class RequestError(InputError):
    """A request that cannot be answered as sent: its HTTP `status` and a located one-line message."""

    def __init__(self, status: int, message: str, location: Optional[str] = REQUEST) -> None:
        super().__init__(message, location)
        self.status = status


def error_text(err: LmlabError, location: str = REQUEST) -> str:
    """`input error at LOCATION: message` for a predictor's error (its problems joined like `predict`'s)."""
    return f"{err.kind} at {location}: {_messages(err)}"


def invalid(err: LmlabError) -> RequestError:
    """A predictor's validation error as a 422 about the request."""
    return RequestError(422, _messages(err))


def _messages(err: LmlabError) -> str:
    return "; ".join(message for _, message in err.problems)


async def read_body(chunks: AsyncIterator[bytes], content_length: Optional[str], max_bytes: int) -> bytes:
    """The bytes of a body arriving as `chunks`, read no further than `max_bytes` (413 beyond them)."""
    if content_length is not None and content_length.isdigit() and int(content_length) > max_bytes:
        raise RequestError(413, f"body larger than {max_bytes} bytes")
    body = bytearray()
    async for chunk in chunks:  # a chunked body has no length up front: count as it arrives
        body.extend(chunk)
        if len(body) > max_bytes:
            raise RequestError(413, f"body larger than {max_bytes} bytes")
    return bytes(body)


def parse_json(raw: bytes) -> Any:
    """The strict JSON value of a body; every way it can fail to be one is a 400."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RequestError(400, f"not UTF-8 (byte {err.start})") from None
    if not text.strip():
        raise RequestError(400, "empty body")
    try:
        return strict_json.loads(text)
    except ValueError as err:
        raise RequestError(400, str(err)) from None
