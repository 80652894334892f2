"""`TrainerCallback`: hooks into the training loop (logging, early exits, custom checkpoints)."""
from typing import Any, Dict

from lmlab.common.registrable import Registrable


class TrainerCallback(Registrable):
    """Called by the trainer at fixed points; the default hooks do nothing.

    Inputs
        trainer: the running trainer; `batch_number` counts optimizer steps since the run began;
        `metrics`: the epoch's train/validation metrics.
    Outputs
        None. A callback must not change the model's parameters unless that is its purpose.
    """

    run_time_arguments = ("serialization_dir",)

    def on_start(self, trainer: Any) -> None:
        pass

    def on_batch(self, trainer: Any, batch_outputs: Dict[str, Any], epoch: int, batch_number: int) -> None:
        pass

    def on_epoch(self, trainer: Any, metrics: Dict[str, Any], epoch: int) -> None:
        pass

    def on_end(self, trainer: Any, metrics: Dict[str, Any]) -> None:
        pass
