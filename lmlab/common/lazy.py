"""`Lazy[T]`: a config for an object that can only be built once run-time arguments exist.

An optimizer needs the model's parameters, a learning-rate scheduler needs the optimizer; their
constructors annotate those arguments as `Lazy[Optimizer]`, and the caller later does
`lazy_optimizer.construct(model_parameters=...)`. Every other argument comes from the config, and
config errors still name the config path the `Lazy` was read from.
"""
import copy
from typing import Any, Dict, Generic, Optional, TypeVar

from lmlab.common.params import Params

T = TypeVar("T")


class Lazy(Generic[T]):
    """Holds `params` for type `annotation`; `construct(**kwargs)` builds a fresh object each call."""

    def __init__(self, annotation: Any, params: Optional[Params] = None,
                 injected: Optional[Dict[str, Any]] = None) -> None:
        self._annotation = annotation
        self._params = params if params is not None else Params({})
        self._injected = dict(injected or {})

    @property
    def config(self) -> Dict[str, Any]:
        """The config this object will be built from, as given (defaults are filled on construction)."""
        return self._params.as_dict()

    def construct(self, **kwargs: Any) -> T:
        from lmlab.common.from_params import build  # from_params imports this module

        params = Params(copy.deepcopy(self._params.params), self._params.history)
        value, _ = build(self._annotation, params, self._params.history, self._injected, explicit=kwargs)
        return value

    def __repr__(self) -> str:
        name = getattr(self._annotation, "__name__", str(self._annotation))
        return f"Lazy[{name}]({self.config})"
