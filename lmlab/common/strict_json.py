"""Strict JSON in and out: what `lmlab predict` and `lmlab serve` accept and answer.

Python's `json` module is lenient both ways: it reads `NaN`, `Infinity` and `1e999` (an infinite float), and
escapes such as `"\\ud800"` that decode to a lone surrogate, which no UTF-8 text can carry; and it writes
`NaN`/`Infinity`, which other JSON readers refuse. `loads` refuses all of these in the input, so a value it
returns can always be written back as UTF-8 JSON, and `dumps` refuses to write anything that is not strict
JSON. Both raise `ValueError` (`loads` with a one-line message for the user).
"""
import json
import re
from typing import Any, List, NoReturn

_SURROGATE = re.compile("[\ud800-\udfff]")


def loads(text: str) -> Any:
    """The JSON value of `text`, or `ValueError("invalid JSON: ...")` for anything that is not strict JSON:
    a syntax error (with its column), NaN or Infinity, a number too large for a finite float or too long for
    an int, a lone surrogate in a string, or nesting deeper than Python's recursion limit."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as err:
        raise ValueError(f"invalid JSON: {err.msg} (column {err.colno})") from None
    except RecursionError:
        raise ValueError("invalid JSON: nested too deeply") from None
    except ValueError as err:  # the hooks below, or an integer over Python's digit limit
        raise ValueError(f"invalid JSON: {str(err).partition(';')[0]}") from None
    if "\\u" in text:  # a lone surrogate can only come from an escape: other text is UTF-8 already
        _check_strings(value)
    return value


def dumps(value: Any) -> str:
    """`value` as strict JSON text (UTF-8 characters unescaped); `ValueError` for NaN, an infinity or an
    object JSON cannot hold. The text is encodable as UTF-8 when the strings of `value` are (see `encode`)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def encode(value: Any) -> bytes:
    """`value` as compact strict JSON in UTF-8 (no spaces after separators: an HTTP body, as Starlette writes
    one); `ValueError` (`UnicodeEncodeError` for a lone surrogate) when it cannot be."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(literal: str) -> float:
    number = float(literal)
    if number in (float("inf"), float("-inf")):
        raise ValueError(f"the number {literal[:20]}{'...' if len(literal) > 20 else ''} is out of range")
    return number


def _check_strings(value: Any) -> None:
    """Raise for a lone surrogate in any string or key of `value` (walked without recursion: it may be deep)."""
    pending: List[Any] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            found = _SURROGATE.search(item)
            if found:
                raise ValueError(f"invalid JSON: the lone surrogate \\u{ord(found.group()):04x} is not Unicode text")
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
