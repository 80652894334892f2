"""`Lazy[T]`, the config of an object built once run-time arguments exist; see `lmlab.common.from_params.Lazy`.

`Lazy` is defined next to the machinery that builds it (`from_params`); this module keeps its import path.
"""
from lmlab.common.from_params import Lazy

__all__ = ["Lazy"]
