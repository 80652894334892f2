"""Metric state round trips: a metric restored from `state_dict()` continues exactly."""
import math

import pytest
import torch

from lmlab.modules.metrics import Average, Metric, Perplexity


def test_perplexity_restored_mid_way_continues_exactly():
    batches = [(torch.tensor(3.0), torch.tensor(2)), (torch.tensor(1.5), torch.tensor(1)),
               (torch.tensor(4.25), torch.tensor(3))]
    straight = Perplexity()
    for nll, count in batches:
        straight(nll, count)
    first = Perplexity()
    first(*batches[0])
    state = first.state_dict()
    first(torch.tensor(100.0), torch.tensor(1))  # what happens after the snapshot must not leak into it
    restored = Perplexity()
    restored.load_state_dict(state)
    for nll, count in batches[1:]:
        restored(nll, count)
    assert restored.get_metric() == straight.get_metric() == math.exp((3.0 + 1.5 + 4.25) / 6)


def test_average_state_survives_a_checkpoint_file(tmp_path):
    average = Average()
    average(torch.tensor(2.0))
    average(4.0)
    torch.save(average.state_dict(), tmp_path / "state.th")
    restored = Average()
    restored.load_state_dict(torch.load(tmp_path / "state.th", weights_only=True))
    restored(torch.tensor(9.0))
    assert restored.get_metric() == pytest.approx(5.0)


def test_a_state_of_another_metric_is_refused():
    with pytest.raises(ValueError, match=r"Average: state has \['_count', '_nll'\], expected \['_count', '_total'\]"):
        Average().load_state_dict(Perplexity().state_dict())
    assert issubclass(Average, Metric)


class _InPlaceSum(Metric):
    """Sum of values, accumulated in place.

    Inputs: value, scalar tensor. Outputs: `get_metric()` -> float sum.
    """

    def __init__(self) -> None:
        self.total = torch.zeros(())

    def __call__(self, value: torch.Tensor) -> None:
        self.total += value

    def get_metric(self, reset: bool = False) -> float:
        return float(self.total)


def test_the_default_state_is_a_snapshot():
    metric = _InPlaceSum()
    metric(torch.tensor(2.0))
    state = metric.state_dict()
    metric(torch.tensor(5.0))
    assert float(state["total"]) == 2.0 and metric.get_metric() == 7.0
