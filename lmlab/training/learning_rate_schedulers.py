"""Learning-rate schedulers from configs.

Run-time arguments, given by the trainer: `optimizer`, `num_epochs` and `num_steps_per_epoch` (optimizer
steps per epoch; None when the training data loader does not know its length, e.g. streaming data without
`batches_per_epoch`). A scheduler that needs the total number of steps takes it from those two, or from
its own `total_steps` in the config; with neither it is a config error, never a silent zero.

Contract: `step_batch()` after every optimizer step; `step_validation(validation_metric)` after each
validation (once per epoch, or every `trainer.validate_every_n_batches`; `validation_metric` is oriented so
that larger is better, and is the epoch's training figure when there is no validation data); `step_epoch()`
after each epoch, after that epoch's last `step_validation`; `state_dict()` / `load_state_dict()` for
checkpoints.
"""
import math
from typing import Annotated, Any, Dict, Iterator, Optional

import torch

from lmlab.common.constraints import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, Range
from lmlab.common.errors import ConfigurationError
from lmlab.common.registrable import Registrable

Factor = Annotated[float, Range(0.0, 1.0, low_open=True, high_open=True)]
"""A factor the rate is multiplied by when it decays: in (0, 1)."""


class LearningRateScheduler(Registrable):
    """Wraps a torch scheduler; see the module docstring. Inputs: optimizer. Outputs: none (updates lr)."""

    run_time_arguments = ("optimizer", "num_epochs", "num_steps_per_epoch")
    @classmethod
    def reads_validation_metric(cls, arguments: Dict[str, Any]) -> bool:
        """Whether the schedule built from these config `arguments` acts on the validation metric (a plateau
        schedule), not only on steps and epochs. Decided from the config, before anything is built."""
        return False

    def __init__(self, scheduler: Any) -> None:
        self.scheduler = scheduler

    def step_batch(self) -> None:
        pass

    def step_validation(self, validation_metric: float) -> None:
        pass

    def step_epoch(self) -> None:
        pass

    def state_dict(self) -> Dict[str, Any]:
        return self.scheduler.state_dict()

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.scheduler.load_state_dict(state)


@LearningRateScheduler.register("step")
class StepLearningRateScheduler(LearningRateScheduler):
    """Multiply the lr by `gamma` every `step_size` epochs. Inputs: optimizer. Outputs: none."""

    def __init__(self, optimizer: torch.optim.Optimizer, step_size: PositiveInt, gamma: PositiveFloat = 0.1) -> None:
        super().__init__(torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=gamma))

    def step_epoch(self) -> None:
        self.scheduler.step()


@LearningRateScheduler.register("reduce_on_plateau")
class ReduceOnPlateauLearningRateScheduler(LearningRateScheduler):
    """Multiply the lr by `factor` when the validation metric stops improving for `patience` validations.

    Inputs: optimizer; the trainer passes the metric oriented so that larger is better.
    Outputs: none.
    """

    @classmethod
    def reads_validation_metric(cls, arguments: Dict[str, Any]) -> bool:
        return True

    def __init__(self, optimizer: torch.optim.Optimizer, factor: Factor = 0.5, patience: NonNegativeInt = 0,
                 min_lr: NonNegativeFloat = 0.0) -> None:
        super().__init__(torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=factor,
                                                                    patience=patience, min_lr=min_lr))

    def step_validation(self, validation_metric: float) -> None:
        self.scheduler.step(validation_metric)


@LearningRateScheduler.register("inverse_time")
class InverseTimeLearningRateScheduler(LearningRateScheduler):
    """lr_e = lr / (1 + decay * e) after epoch e (LD-Net's and LM-LSTM-CRF's SGD schedule, `lr_decay` 0.05).

    Registered as a `LearningRateScheduler` with name "inverse_time".

    Parameters
        decay: float = 0.05
    Inputs: optimizer. Outputs: none (updates every group's lr, each from its own initial lr).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, decay: NonNegativeFloat = 0.05) -> None:
        super().__init__(torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0 / (1.0 + decay * epoch)))

    def step_epoch(self, validation_metric: Optional[float] = None) -> None:
        self.scheduler.step()


@LearningRateScheduler.register("linear_with_warmup")
class LinearWithWarmupLearningRateScheduler(LearningRateScheduler):
    """Linear warm-up over `warmup_steps` optimizer steps, then linear (or cosine) decay to zero at the
    last step.

    Registered as a `LearningRateScheduler` with name "linear_with_warmup".

    Parameters
        total_steps: int = None    steps until the rate reaches zero; default: the trainer's
                                   `num_epochs` x `num_steps_per_epoch` (required when that is unknown).
        warmup_steps: int = 0
        cosine: bool = False       cosine instead of linear decay.
        plateau_factor: float = None   also multiply the rate by this (in (0, 1)) whenever `plateau_patience`
                                   + 1 validations in a row do not improve on the best one, on top of the
                                   schedule: a run anneals as soon as validation stalls, and still ends at zero.
        plateau_patience: int = 0
    Inputs: optimizer, num_epochs, num_steps_per_epoch (run time). Outputs: none (updates lr).
    """

    @classmethod
    def reads_validation_metric(cls, arguments: Dict[str, Any]) -> bool:
        return arguments.get("plateau_factor") is not None  # the plateau cut on top of the linear schedule

    def __init__(self, optimizer: torch.optim.Optimizer, num_epochs: int, num_steps_per_epoch: Optional[int],
                 total_steps: Optional[PositiveInt] = None, warmup_steps: NonNegativeInt = 0, cosine: bool = False,
                 plateau_factor: Optional[Factor] = None, plateau_patience: NonNegativeInt = 0) -> None:
        self._plateau_factor, self._plateau_patience = plateau_factor, plateau_patience
        # the plateau's scale on the schedule, the best validation and the validations since: checkpointed
        self._plateau: Dict[str, Any] = {"scale": 1.0, "best": None, "bad": 0}
        if total_steps is None:
            if num_steps_per_epoch is None:  # run time: whether the data loader knows its length
                raise ConfigurationError("needed: the training data loader does not know its length (streaming "
                                         "data); set it here, or set data_loader.batches_per_epoch", "total_steps")
            total_steps = num_epochs * num_steps_per_epoch

        def factor(step: int) -> float:
            if step < warmup_steps:
                return (step + 1) / warmup_steps
            progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
            decay = 0.5 * (1 + math.cos(math.pi * progress)) if cosine else 1.0 - progress
            return decay * self._plateau["scale"]

        super().__init__(torch.optim.lr_scheduler.LambdaLR(optimizer, factor))

    @classmethod
    def check_arguments(cls, arguments: Dict[str, Any]) -> Iterator[ConfigurationError]:
        total, warmup = arguments.get("total_steps"), arguments.get("warmup_steps", 0)
        if total is not None and warmup > total:
            yield ConfigurationError(f"expected at most total_steps ({total}), found {warmup}", "warmup_steps")

    def step_batch(self) -> None:
        self.scheduler.step()

    def step_validation(self, validation_metric: float) -> None:
        if self._plateau_factor is None:
            return
        plateau = self._plateau
        if plateau["best"] is None or validation_metric > plateau["best"]:
            plateau.update(best=validation_metric, bad=0)
            return
        plateau["bad"] += 1
        if plateau["bad"] > self._plateau_patience:
            plateau.update(scale=plateau["scale"] * self._plateau_factor, bad=0)
            for group in self.scheduler.optimizer.param_groups:  # now, not only from the next step on
                group["lr"] *= self._plateau_factor

    def state_dict(self) -> Dict[str, Any]:
        return {"schedule": self.scheduler.state_dict(), "plateau": dict(self._plateau)}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.scheduler.load_state_dict(state["schedule"])
        self._plateau.update(state["plateau"])
