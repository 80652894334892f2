"""Running average of a scalar (e.g. a loss)."""
from typing import Union

import torch

from lmlab.modules.metrics.metric import Metric


class Average(Metric):
    """Mean of the values passed in since the last reset.

    Inputs
        value: float or scalar tensor (detached before accumulating).
    Outputs
        `get_metric()` -> float mean (0.0 before any value).
    """

    totals = ("_total", "_count")

    def __init__(self) -> None:
        self._total: Union[torch.Tensor, float] = 0.0
        self._count = 0

    def __call__(self, value: Union[torch.Tensor, float]) -> None:
        self._total = self._total + (value.detach().double() if isinstance(value, torch.Tensor) else value)
        self._count += 1

    def get_metric(self, reset: bool = False) -> float:
        mean = float(self._total) / self._count if self._count else 0.0
        if reset:
            self.reset()
        return mean

    def reset(self) -> None:
        self._total, self._count = 0.0, 0
