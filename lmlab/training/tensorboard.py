"""`tensorboard`: training curves for TensorBoard, written into the run folder."""
import logging
from pathlib import Path
from typing import Any, Dict, Optional

from overrides import overrides

from lmlab.common.errors import ConfigurationError
from lmlab.training import distributed
from lmlab.training.callbacks import TrainerCallback
from lmlab.training.trainer import Trainer

logger = logging.getLogger(__name__)


@TrainerCallback.register("tensorboard")
class TensorBoard(TrainerCallback):
    """Writes the run's figures as TensorBoard scalars: `tensorboard --logdir RUN/tensorboard`.

    Registered as a `TrainerCallback` with name "tensorboard"; add it with
    `trainer: {callbacks: [{type: "tensorboard"}]}`.

    Parameters
        serialization_dir: str           injected: the run folder.
        log_dir: str = "tensorboard"     the event files' folder, inside the run folder.
    Inputs
        Every logging step (`trainer.log_every_n_batches`): "step/loss", "step/perplexity",
        "step/tokens_per_second" (of the batches since the last log, over all processes),
        "step/learning_rate" and "step/grad_norm". Every epoch: "epoch/NAME" for every number among the
        epoch's metrics (training_loss, training_perplexity, validation_loss, validation_perplexity,
        best_epoch, ...) and "epoch/learning_rate". The x-axis is the optimizer step count throughout,
        so step and epoch curves line up.
    Outputs
        Event files (`torch.utils.tensorboard.SummaryWriter`), written by rank 0 only.
    Notes
        A recovered run first drops what the interrupted run had written after its last checkpoint
        (SummaryWriter's `purge_step`), so the curves have no doubled stretch.
    """

    def __init__(self, serialization_dir: str, log_dir: str = "tensorboard") -> None:
        try:  # torch.utils.tensorboard writes with it: missing, say so now rather than when training starts
            import tensorboard
        except ImportError as err:  # run time: what is installed
            raise ConfigurationError("needs the tensorboard package: pip install tensorboard") from err
        self.version = tensorboard.__version__
        self.directory = Path(serialization_dir) / log_dir
        self._writer: Optional[Any] = None  # a SummaryWriter on rank 0, from on_start

    @overrides
    def on_start(self, trainer: Trainer) -> None:
        if not distributed.is_main_process():
            return
        from torch.utils.tensorboard import SummaryWriter  # seconds to import: only when a run uses it

        # the checkpoint resumed from was taken after everything logged at its step
        purge = trainer.optimizer_steps + 1 if trainer.optimizer_steps else None
        self._writer = SummaryWriter(str(self.directory), purge_step=purge)
        logger.info("TensorBoard %s event files in %s", self.version, self.directory)

    @overrides
    def on_log(self, trainer: Trainer, scalars: Dict[str, float], step: int) -> None:
        if self._writer is not None:
            for name, value in scalars.items():
                self._writer.add_scalar(f"step/{name}", value, step)

    @overrides
    def on_epoch(self, trainer: Trainer, metrics: Dict[str, Any], epoch: int) -> None:
        if self._writer is None:
            return
        step = trainer.optimizer_steps
        for name, value in metrics.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self._writer.add_scalar(f"epoch/{name}", value, step)
        self._writer.add_scalar("epoch/learning_rate", trainer.optimizer.param_groups[0]["lr"], step)
        self._writer.flush()

    @overrides
    def on_end(self, trainer: Trainer, metrics: Dict[str, Any]) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
