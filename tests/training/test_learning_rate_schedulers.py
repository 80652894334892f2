import pytest
import torch

from lmlab.common import Lazy, Params
from lmlab.training.learning_rate_schedulers import LearningRateScheduler


def _scheduler(config, total_steps=10):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = Lazy(LearningRateScheduler, Params(config)).construct(optimizer=optimizer, total_steps=total_steps)
    return optimizer, scheduler


def test_linear_with_warmup_exact_values():
    optimizer, scheduler = _scheduler({"type": "linear_with_warmup", "warmup_steps": 2}, total_steps=6)
    rates = []
    for _ in range(6):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step_batch()
    assert rates == pytest.approx([0.5, 1.0, 1.0, 0.75, 0.5, 0.25])


def test_step_and_plateau_and_state_round_trip():
    optimizer, scheduler = _scheduler({"type": "step", "step_size": 2, "gamma": 0.5})
    for _ in range(4):
        optimizer.step()
        scheduler.step_epoch(0.0)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.25)
    optimizer, scheduler = _scheduler({"type": "reduce_on_plateau", "factor": 0.1, "patience": 0})
    for score in (1.0, 2.0, 1.5):  # larger is better; the third epoch does not improve
        scheduler.step_epoch(score)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1)
    restored_optimizer, restored = _scheduler({"type": "reduce_on_plateau", "factor": 0.1, "patience": 0})
    restored.load_state_dict(scheduler.state_dict())
    restored.step_epoch(1.0)  # still no improvement over 2.0
    assert restored_optimizer.param_groups[0]["lr"] == pytest.approx(0.1)  # own lr 1.0 * 0.1
