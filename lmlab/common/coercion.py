"""The JSON-value rules every config reader shares: what counts as an int, a float, a bool or a str.

This sits below `Params` (its typed `pop_int`/`pop_float`/...) and `FromParams` (primitive annotations),
so that both read a value the same way and neither needs the other.
"""
import collections.abc
import json
from typing import Any

from lmlab.common.errors import ConfigurationError


def coerce_primitive(kind: type, value: Any, path: str) -> Any:
    """Check/convert a JSON value to int, float, bool or str. Never converts str to a number."""
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        if isinstance(value, float) and value.is_integer():
            value, ok = int(value), True
    elif kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, str)
    if not ok:
        raise ConfigurationError(f"expected {kind.__name__}, found {found(value)}", path)
    return value


def found(value: Any) -> str:
    """A config value as an error message shows it: `str "abc"`, `int 3`, `object`, `list`, `null`."""
    if isinstance(value, collections.abc.Mapping):  # a dict or a Params
        return "object"
    if isinstance(value, (list, tuple)):
        return "list"
    if value is None:
        return "null"
    shown = json.dumps(value) if isinstance(value, (str, int, float, bool)) else repr(value)
    return f"{type(value).__name__} {shown[:60]}"
