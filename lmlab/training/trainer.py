"""`Trainer`: runs training given a model and data loaders built from the config's `trainer` block.

Contract
    Built with the run-time arguments `model`, `data_loader`, `validation_data_loader` (optional) and the
    injected `serialization_dir`; `train()` runs to the end (or early stop) and returns the final
    metrics dict; `resume()` restores the newest checkpoint in `serialization_dir` first. While it
    runs, a trainer exposes `model`, `optimizer` and `optimizer_steps` (what trainer callbacks read).
"""
from typing import Any, Dict

import torch

from lmlab.common.registrable import Registrable
from lmlab.models.model import Model


class Trainer(Registrable):
    """Base class of trainers; see the module docstring."""

    default_implementation = "gradient_descent"
    run_time_arguments = ("model", "data_loader", "validation_data_loader", "serialization_dir")

    model: Model
    """The model being trained, on the training device."""

    optimizer: torch.optim.Optimizer
    """Its optimizer (`param_groups` hold the current learning rates)."""

    optimizer_steps: int
    """Optimizer steps taken since the run began (a resumed run continues the count)."""

    def train(self) -> Dict[str, Any]:
        raise NotImplementedError

    def resume(self) -> bool:
        """Restore the newest checkpoint; False when there is none."""
        raise NotImplementedError
