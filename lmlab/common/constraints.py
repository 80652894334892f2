"""Value constraints on constructor arguments, checked by `FromParams` (and so by `lmlab check`).

A constraint is metadata on an `Annotated` type: `dropout: Probability = 0.0` reads as a float and must lie
in [0, 1]. `validate` and `build` check it where the value is read, so `dropout: 1.5` is a one-line config
error at its config path before anything is built, instead of an exception from inside torch (or, worse,
a value silently used: a negative clip norm flips every gradient).

Constraints on one argument live here, in its type. A check that relates several arguments of one
constructor is the class's `check_arguments` hook (see `lmlab.common.from_params.FromParams`); a check that
needs a run-time value (the vocabulary size) stays in the constructor, with a comment naming that value.
"""
import math
import re
from dataclasses import dataclass
from typing import Annotated, Any, List, Optional


class Constraint:
    """A condition on a config value; `check(value)` returns None when it holds, else the reason."""

    def check(self, value: Any) -> Optional[str]:
        raise NotImplementedError

    def describe(self) -> str:
        """The condition as `describe(annotation)` shows it: `in [0, 1)`, `with at least 1 item`."""
        raise NotImplementedError


@dataclass(frozen=True)
class Range(Constraint):
    """A number in [low, high]; either bound may be None (unbounded), and either may be open (excluded)."""

    low: Optional[float] = None
    high: Optional[float] = None
    low_open: bool = False
    high_open: bool = False

    def check(self, value: float) -> Optional[str]:
        below = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        above = self.high is not None and (value >= self.high if self.high_open else value > self.high)
        if math.isnan(value) or below or above:
            return f"expected a value in {self.interval()}, found {value!r}"
        return None

    def interval(self) -> str:
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        return f"{'(' if self.low_open or self.low is None else '['}{low}, {high}" \
               f"{')' if self.high_open or self.high is None else ']'}"

    def describe(self) -> str:
        return f"in {self.interval()}"


@dataclass(frozen=True)
class Length(Constraint):
    """A list with at least `minimum` items."""

    minimum: int = 1

    def check(self, value: List[Any]) -> Optional[str]:
        if len(value) < self.minimum:
            return f"expected at least {self.minimum} item{'s' if self.minimum != 1 else ''}, found {len(value)}"
        return None

    def describe(self) -> str:
        return f"with at least {self.minimum} item{'s' if self.minimum != 1 else ''}"


@dataclass(frozen=True)
class Increasing(Constraint):
    """A list of numbers in strictly increasing order (so also without repeats)."""

    def check(self, value: List[float]) -> Optional[str]:
        for index in range(1, len(value)):
            if value[index] <= value[index - 1]:
                return f"expected strictly increasing values, found {list(value)} ({value[index]} at [{index}] " \
                       f"after {value[index - 1]})"
        return None

    def describe(self) -> str:
        return "in increasing order"


@dataclass(frozen=True)
class Pattern(Constraint):
    """A string that fully matches `regex`; `meaning` says in words what that is, for messages."""

    regex: str
    meaning: str

    def check(self, value: str) -> Optional[str]:
        if re.fullmatch(self.regex, value) is None:
            return f"expected {self.meaning}, found {value!r}"
        return None

    def describe(self) -> str:
        return f"({self.meaning})"


Probability = Annotated[float, Range(0.0, 1.0)]
"""A probability: a float in [0, 1]."""

DropoutRate = Annotated[float, Range(0.0, 1.0, high_open=True)]
"""A dropout rate: a float in [0, 1) (at 1 nothing would pass)."""

PositiveInt = Annotated[int, Range(1)]
"""A count or size that must be at least 1 (layers, hidden sizes, batch sizes)."""

NonNegativeInt = Annotated[int, Range(0)]
"""A count that may be 0 (warm-up steps, padding length, workers)."""

PositiveFloat = Annotated[float, Range(0.0, low_open=True)]
"""A float above 0 (a learning rate, a clip norm)."""

NonNegativeFloat = Annotated[float, Range(0.0)]
"""A float that may be 0 (weight decay, a penalty strength)."""

Word = Annotated[str, Pattern(r"\S+", "one non-empty token without spaces")]
"""A single token, such as a mask or padding symbol."""
