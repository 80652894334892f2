"""`Metric`: a running statistic that a model updates in `forward` and reports in `get_metrics`.

Contract
    `__call__(...)` accumulates (tensors stay on their device: no `.item()` in the hot loop);
    `get_metric(reset: bool) -> float | Dict[str, float]` converts to Python numbers, which is the one
    host-device sync, done when metrics are logged. `reset()` clears the state.
    `state_dict()` / `load_state_dict(state)` save and restore the running state, so that a training
    checkpoint taken mid-epoch carries the metrics of the batches before it.
"""
import copy
from typing import Any, Dict, Union


class Metric:
    """Base class of metrics; see the module docstring. Not a registry: models build their metrics in code
    (nothing configures one), so there is no "metric" block in configs and no `lmlab list metric`."""

    def reset(self) -> None:
        raise NotImplementedError

    def get_metric(self, reset: bool = False) -> Union[float, Dict[str, float]]:
        raise NotImplementedError

    def state_dict(self) -> Dict[str, Any]:
        """The running state: tensors, numbers and lists or dicts of them (what a checkpoint can hold).

        The default is a copy of the metric's attributes, which is its whole state when it holds only
        running totals and plain settings; a metric holding anything else overrides this and
        `load_state_dict`.
        """
        return copy.deepcopy(vars(self))  # a snapshot: in-place updates after it must not change it

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore a `state_dict()` of a metric of the same class. Tensors come back where the caller put
        them (the trainer moves them to the model's device)."""
        if set(state) != set(vars(self)):
            raise ValueError(f"{type(self).__name__}: state has {sorted(state)}, expected {sorted(vars(self))}")
        vars(self).update(state)
