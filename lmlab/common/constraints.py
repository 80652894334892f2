"""Value constraints on constructor arguments, checked by `FromParams` (and so by `lmlab check`).

A constraint is metadata on an `Annotated` type: `dropout: Probability = 0.0` reads as a float and must lie
in [0, 1]. `validate` and `build` check it where the value is read, so `dropout: 1.5` is a one-line config
error at its config path before anything is built, instead of an exception from inside torch.
"""
import math
from dataclasses import dataclass
from typing import Annotated, Optional


@dataclass(frozen=True)
class Range:
    """A number in [low, high]; either bound may be None (unbounded).

    `check(value)` returns None when the value is allowed, else the reason (for a `ConfigurationError`).
    """

    low: Optional[float] = None
    high: Optional[float] = None

    def check(self, value: float) -> Optional[str]:
        if math.isnan(value) or (self.low is not None and value < self.low) or \
                (self.high is not None and value > self.high):
            return f"expected a value in {self.describe()}, found {value!r}"
        return None

    def describe(self) -> str:
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        return f"[{low}, {high}]"


Probability = Annotated[float, Range(0.0, 1.0)]
"""A probability such as a dropout rate: a float in [0, 1]."""

PositiveInt = Annotated[int, Range(1)]
"""A count or size that must be at least 1 (layers, hidden sizes)."""
