"""`Trainer`: runs training given a model and data loaders built from the config's `trainer` block.

Contract
    Built with the run-time arguments `model`, `data_loader`, `validation_data_loader` (optional) and the
    injected `serialization_dir`; `train()` runs to the end (or early stop) and returns the final
    metrics dict; `resume()` restores the newest checkpoint in `serialization_dir` first.
"""
from typing import Any, Dict

from lmlab.common.registrable import Registrable


class Trainer(Registrable):
    """Base class of trainers; see the module docstring."""

    default_implementation = "gradient_descent"
    run_time_arguments = ("model", "data_loader", "validation_data_loader", "serialization_dir")

    def train(self) -> Dict[str, Any]:
        raise NotImplementedError

    def resume(self) -> bool:
        """Restore the newest checkpoint; False when there is none."""
        raise NotImplementedError
