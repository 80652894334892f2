"""Learning-rate schedulers: exact rates, the total number of steps, state round trips."""
import pytest
import torch

from lmlab.common import ConfigurationError, Lazy, Params
from lmlab.training.learning_rate_schedulers import LearningRateScheduler


def _scheduler(config, num_epochs=2, num_steps_per_epoch=5):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    lazy = Lazy(LearningRateScheduler, Params(config, "trainer.learning_rate_scheduler"))
    return optimizer, lazy.construct(optimizer=optimizer, num_epochs=num_epochs,
                                     num_steps_per_epoch=num_steps_per_epoch)


def _rates(optimizer, scheduler, steps):
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step_batch()
    return rates


def test_linear_with_warmup_exact_values():
    # total = 2 epochs x 3 steps
    optimizer, scheduler = _scheduler({"type": "linear_with_warmup", "warmup_steps": 2}, 2, 3)
    assert _rates(optimizer, scheduler, 6) == pytest.approx([0.5, 1.0, 1.0, 0.75, 0.5, 0.25])


def test_linear_with_warmup_total_from_the_config_when_the_length_is_unknown():
    optimizer, scheduler = _scheduler({"type": "linear_with_warmup", "warmup_steps": 2, "total_steps": 6},
                                      num_steps_per_epoch=None)
    assert _rates(optimizer, scheduler, 6) == pytest.approx([0.5, 1.0, 1.0, 0.75, 0.5, 0.25])
    # an explicit total wins over epochs x steps
    optimizer, scheduler = _scheduler({"type": "linear_with_warmup", "total_steps": 4}, 10, 10)
    assert _rates(optimizer, scheduler, 5) == pytest.approx([1.0, 0.75, 0.5, 0.25, 0.0])
    with pytest.raises(ConfigurationError) as error:
        _scheduler({"type": "linear_with_warmup", "warmup_steps": 2}, num_steps_per_epoch=None)
    assert str(error.value).startswith("config error at trainer.learning_rate_scheduler.total_steps: needed: "
                                       "the training data loader does not know its length")
    with pytest.raises(ConfigurationError,
                       match=r"at trainer.learning_rate_scheduler.total_steps: expected a value in \[1"):
        _scheduler({"type": "linear_with_warmup", "total_steps": 0})


def test_step_and_plateau_and_state_round_trip():
    optimizer, scheduler = _scheduler({"type": "step", "step_size": 2, "gamma": 0.5})
    for _ in range(4):
        optimizer.step()
        scheduler.step_epoch()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.25)
    optimizer, scheduler = _scheduler({"type": "reduce_on_plateau", "factor": 0.1, "patience": 0})
    for score in (1.0, 2.0, 1.5):  # larger is better; the third epoch does not improve
        scheduler.step_validation(score)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1)
    restored_optimizer, restored = _scheduler({"type": "reduce_on_plateau", "factor": 0.1, "patience": 0})
    restored.load_state_dict(scheduler.state_dict())
    restored.step_validation(1.0)  # still no improvement over 2.0
    assert restored_optimizer.param_groups[0]["lr"] == pytest.approx(0.1)  # own lr 1.0 * 0.1


def test_inverse_time_is_ldnets_lr_over_one_plus_decay_times_epochs_and_reads_no_metric():
    optimizer, scheduler = _scheduler({"type": "inverse_time", "decay": 0.05})
    rates = []
    for _ in range(3):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step_epoch()
    assert rates == pytest.approx([1.0, 1 / 1.05, 1 / 1.1])
    assert not type(scheduler).reads_validation_metric({"decay": 0.05})
    _, plateau = _scheduler({"type": "reduce_on_plateau"})
    assert type(plateau).reads_validation_metric({})
    linear = LearningRateScheduler.by_name("linear_with_warmup")
    assert not linear.reads_validation_metric({"total_steps": 10})
    assert linear.reads_validation_metric({"total_steps": 10, "plateau_factor": 0.5})  # it anneals on a plateau


def test_linear_with_warmup_anneals_on_a_plateau_and_resumes_it():
    config = {"type": "linear_with_warmup", "total_steps": 10, "plateau_factor": 0.5, "plateau_patience": 1}
    optimizer, scheduler = _scheduler(config)
    assert _rates(optimizer, scheduler, 2) == pytest.approx([1.0, 0.9])
    for score in (2.0, 1.0):  # larger is better: one validation without improvement, within the patience
        scheduler.step_validation(score)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.8)
    scheduler.step_validation(1.5)  # the second in a row: the rate is halved at once ...
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.4)
    restored_optimizer, restored = _scheduler(config)
    restored_optimizer.load_state_dict(optimizer.state_dict())
    restored.load_state_dict(scheduler.state_dict())
    assert _rates(restored_optimizer, restored, 3) == pytest.approx([0.4, 0.35, 0.3])  # ... and stays halved
    restored.step_validation(3.0)  # an improvement resets the count
    restored.step_validation(2.5)
    assert restored_optimizer.param_groups[0]["lr"] == pytest.approx(0.25)
    with pytest.raises(ConfigurationError, match=r"at trainer.learning_rate_scheduler.plateau_factor: expected a "
                                                 r"value in \(0, 1\), found 1.0"):
        _scheduler({**config, "plateau_factor": 1.0})
