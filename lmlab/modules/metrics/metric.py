"""`Metric`: a running statistic that a model updates in `forward` and reports in `get_metrics`.

Contract
    `__call__(...)` accumulates (tensors stay on their device: no `.item()` in the hot loop);
    `get_metric(reset: bool) -> float | Dict[str, float]` converts to Python numbers, which is the one
    host-device sync, done when metrics are logged. `reset()` clears the state.
"""
from typing import Dict, Union

from lmlab.common.registrable import Registrable


class Metric(Registrable):
    """Base class of metrics; see the module docstring."""

    def reset(self) -> None:
        raise NotImplementedError

    def get_metric(self, reset: bool = False) -> Union[float, Dict[str, float]]:
        raise NotImplementedError
