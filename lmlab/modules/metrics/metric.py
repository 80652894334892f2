"""`Metric`: a running statistic that a model updates in `forward` and reports in `get_metrics`.

Contract
    `__call__(...)` accumulates (tensors stay on their device: no `.item()` in the hot loop);
    `get_metric(reset: bool) -> float | Dict[str, float]` converts to Python numbers, which is the one
    host-device sync, done when metrics are logged. `reset()` clears the state.
    `state_dict()` / `load_state_dict(state)` save and restore the running state, so that a training
    checkpoint taken mid-epoch carries the metrics of the batches before it.
    `all_reduce()` adds up the running totals of every process of a distributed run (each process saw
    its own shard of the data), so that `get_metric` is exact for the whole data on every process; a
    metric declares its totals in `totals`.
"""
import copy
from typing import Any, Dict, List, Tuple, Union

import torch
import torch.distributed as dist


class Metric:
    """Base class of metrics; see the module docstring. Not a registry: models build their metrics in code
    (nothing configures one), so there is no "metric" block in configs and no `lmlab list metric`."""

    totals: Tuple[str, ...] = ()
    """Names of the attributes that are running sums over the data seen (tensors or numbers, zero after
    `reset()`): the ones `all_reduce` adds up over processes."""

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

    def all_reduce(self) -> None:
        """Replace every running total (`totals`) by its sum over the processes of the default
        `torch.distributed` process group, on every process; nothing outside one. Then read the metric
        (and reset it): every process reports the metric of the whole data.

        The totals travel as Python objects (over the group's CPU backend), so their shapes may differ
        (a process that saw no batch still holds a plain 0); they are added in rank order, so every
        process gets the same bits. A metric whose state is not sums (a maximum, say) overrides this.
        """
        if not (dist.is_available() and dist.is_initialized()):
            return
        if not self.totals:
            raise NotImplementedError(f"{type(self).__name__} declares no `totals`: it cannot be reduced over "
                                      "processes")
        state = vars(self)
        mine = {name: state[name].cpu() if isinstance(state[name], torch.Tensor) else state[name]
                for name in self.totals}
        gathered: List[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(gathered, mine)
        for name in self.totals:
            total = sum((totals[name] for totals in gathered), start=0)
            here = state[name]
            state[name] = total.to(here.device) if isinstance(total, torch.Tensor) and \
                isinstance(here, torch.Tensor) else total
