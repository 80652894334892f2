"""`Params`: a config dict that remembers where it is.

A `Params` wraps one dict of a config and knows its path from the root (`history`), so every error
raised while reading it can name the exact key (`model.contextualizer.hidden_size`). Configs are
Jsonnet (a superset of JSON) evaluated with the process environment as external variables
(`std.extVar("DATA_DIR")`), then deep-merged with `--overrides`.
"""
import copy
import json
import os
from typing import Any, Dict, Iterator, List, Mapping, MutableMapping, Optional, Union

from lmlab.common.coercion import coerce_primitive
from lmlab.common.errors import ConfigurationError, did_you_mean

_NO_DEFAULT = object()


def join_path(history: str, key: Union[str, int]) -> str:
    """Config path of `key` under `history`: `a.b` + `c` -> `a.b.c`; list indices as `a.b[2]`."""
    if isinstance(key, int):
        return f"{history}[{key}]"
    return f"{history}.{key}" if history else key


class Params(MutableMapping):
    """A dict of config values with a `history` (its config path); nested dicts come back as `Params`.

    Reading is destructive (`pop`), so that `assert_empty` can report keys nobody read: that is how a
    misspelled key is caught.
    """

    def __init__(self, params: Mapping[str, Any], history: str = "") -> None:
        self.params: Dict[str, Any] = dict(params)
        self.history = history

    # --- reading -------------------------------------------------------------------------------
    def pop(self, key: str, default: Any = _NO_DEFAULT) -> Any:
        """Remove and return `key`; a missing key without a default is a ConfigurationError."""
        if key not in self.params:
            if default is _NO_DEFAULT:
                raise ConfigurationError("missing required key", join_path(self.history, key))
            return default
        return self._wrap(key, self.params.pop(key))

    def get(self, key: str, default: Any = None) -> Any:
        return self._wrap(key, self.params[key]) if key in self.params else default

    def _typed_pop(self, key: str, kind: type, default: Any) -> Any:
        value = self.pop(key, default)
        if value is None and default is None:
            return None
        return coerce_primitive(kind, value, join_path(self.history, key))

    def pop_int(self, key: str, default: Any = _NO_DEFAULT) -> Optional[int]:
        return self._typed_pop(key, int, default)

    def pop_float(self, key: str, default: Any = _NO_DEFAULT) -> Optional[float]:
        return self._typed_pop(key, float, default)

    def pop_bool(self, key: str, default: Any = _NO_DEFAULT) -> Optional[bool]:
        return self._typed_pop(key, bool, default)

    def pop_str(self, key: str, default: Any = _NO_DEFAULT) -> Optional[str]:
        return self._typed_pop(key, str, default)

    def pop_choice(self, key: str, choices: List[str], default: Any = _NO_DEFAULT) -> str:
        value = self.pop_str(key, default)
        if value not in choices:
            raise ConfigurationError(
                f'expected one of {", ".join(map(repr, choices))}, found {value!r}{did_you_mean(str(value), choices)}',
                join_path(self.history, key),
            )
        return value

    def assert_empty(self, owner: str, allowed: Optional[List[str]] = None) -> None:
        """Raise one error listing every key left unread, each with a did-you-mean from `allowed`."""
        if not self.params:
            return
        errors = [
            ConfigurationError(f"unknown key for {owner}{did_you_mean(key, allowed or [])}",
                               join_path(self.history, key))
            for key in self.params
        ]
        raise ConfigurationError.combine(errors)

    # --- copying and export --------------------------------------------------------------------
    def duplicate(self) -> "Params":
        return Params(copy.deepcopy(self.params), self.history)

    def as_dict(self) -> Dict[str, Any]:
        """A plain (deep-copied) dict, with nested Params unwrapped."""
        return _unwrap(copy.deepcopy(self.params))

    def _wrap(self, key: str, value: Any) -> Any:
        if isinstance(value, dict):
            return Params(value, join_path(self.history, key))
        return value

    # --- Mapping protocol ----------------------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        if key not in self.params:
            raise ConfigurationError("missing required key", join_path(self.history, key))
        return self._wrap(key, self.params[key])

    def __setitem__(self, key: str, value: Any) -> None:
        self.params[key] = value

    def __delitem__(self, key: str) -> None:
        del self.params[key]

    def __contains__(self, key: object) -> bool:
        return key in self.params

    def __iter__(self) -> Iterator[str]:
        return iter(self.params)

    def __len__(self) -> int:
        return len(self.params)

    def __repr__(self) -> str:
        return f"Params({self.history or '<root>'}: {self.params!r})"

    # --- loading -------------------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str, overrides: Union[str, Dict[str, Any], None] = None,
                  ext_vars: Optional[Dict[str, str]] = None) -> "Params":
        """Evaluate a `.jsonnet`/`.json` file and merge `overrides` (a JSON/Jsonnet string or dict).

        External variables are the process environment plus `ext_vars`: `std.extVar("NAME")` requires
        one, `std.native("extVarOr")("NAME", "default")` falls back to a default. Override keys may be
        nested dicts or dotted paths (`{"trainer.num_epochs": 1}`).
        """
        if not os.path.isfile(path):
            raise ConfigurationError(f"config file not found: {path}")
        config = evaluate_jsonnet(path=path, ext_vars=ext_vars)
        if overrides:
            override_dict = overrides if isinstance(overrides, dict) else evaluate_jsonnet(snippet=overrides)
            config = merge_overrides(config, override_dict)
        return cls(config)


def evaluate_jsonnet(path: Optional[str] = None, snippet: Optional[str] = None,
                     ext_vars: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """Evaluate a Jsonnet file or snippet to a dict; Jsonnet errors become one-line config errors."""
    import _jsonnet  # the `jsonnet` distribution; imported here to keep `import lmlab` light

    variables = {**os.environ, **(ext_vars or {})}
    # std.extVar has no default; std.native("extVarOr")(name, default) gives one.
    # one-letter parameter names: the jsonnet 0.22 binding mangles longer ones ("binding parameter a second time")
    natives = {"extVarOr": (("v", "d"), lambda v, d: variables.get(v, d))}
    where = path or "--overrides"
    try:
        text = (_jsonnet.evaluate_file(path, ext_vars=variables, native_callbacks=natives) if path is not None
                else _jsonnet.evaluate_snippet("overrides", snippet, ext_vars=variables, native_callbacks=natives))
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else "invalid Jsonnet"
        raise ConfigurationError(first, where) from err
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ConfigurationError(f"expected a JSON object at the top level, found {type(value).__name__}", where)
    return value


def merge_overrides(config: Dict[str, Any], overrides: Dict[str, Any], history: str = "") -> Dict[str, Any]:
    """Deep-merge `overrides` into `config` (a new dict). Dotted keys address nested dicts.

    A dict merges into a dict key by key, unless it names a different `"type"`: then it replaces the
    block (the old type's keys mean nothing to the new one). Any other value replaces. Overriding a key
    *inside* a value that is not a dict (say `model.hidden_size.x` when `hidden_size` is 200) is an error.
    """
    merged = copy.deepcopy(config)
    for key, value in overrides.items():
        parts = key.split(".")
        target, path = merged, history
        for part in parts[:-1]:
            path = join_path(path, part)
            node = target.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigurationError(f"cannot override inside a {type(node).__name__} value", path)
            target = node
        last, path = parts[-1], join_path(path, parts[-1])
        existing = target.get(last)
        switches_type = isinstance(value, dict) and isinstance(existing, dict) and \
            value.get("type", existing.get("type")) != existing.get("type")
        if isinstance(value, dict) and isinstance(existing, dict) and not switches_type:
            target[last] = merge_overrides(target[last], value, path)
        else:
            target[last] = copy.deepcopy(value)
    return merged


def _unwrap(value: Any) -> Any:
    if isinstance(value, Params):
        return _unwrap(value.params)
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value
