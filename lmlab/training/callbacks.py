"""`TrainerCallback`: hooks into the training loop (logging, early exits, custom checkpoints)."""
from typing import Any, Dict

from lmlab.common.registrable import Registrable
from lmlab.training.trainer import Trainer


class TrainerCallback(Registrable):
    """Called by the trainer at fixed points; the default hooks do nothing.

    Inputs
        trainer: the running trainer (its `model`, `optimizer_steps`); `step`: its `optimizer_steps`, the
        optimizer steps taken since the run began (`on_batch` follows every batch, so with gradient
        accumulation several batches see the same step);
        `metrics`: the epoch's train/validation metrics; `scalars` (`on_log`, every
        `log_every_n_batches` batches): the training figures of the batches since the last log ("loss",
        "perplexity", "tokens_per_second"; in a distributed run, over all processes), "learning_rate" and,
        when the step just taken was measured, "grad_norm" (before clipping).
    Outputs
        None. A callback must not change the model's parameters unless that is its purpose.
    Notes
        In a distributed run every process calls every hook, with the same metrics and scalars; a
        callback that writes files writes them on rank 0 only (`lmlab.training.distributed`).
    """

    run_time_arguments = ("serialization_dir",)

    def on_start(self, trainer: Trainer) -> None:
        pass

    def on_batch(self, trainer: Trainer, batch_outputs: Dict[str, Any], epoch: int, step: int) -> None:
        pass

    def on_log(self, trainer: Trainer, scalars: Dict[str, float], step: int) -> None:
        pass

    def on_epoch(self, trainer: Trainer, metrics: Dict[str, Any], epoch: int) -> None:
        pass

    def on_end(self, trainer: Trainer, metrics: Dict[str, Any]) -> None:
        pass
