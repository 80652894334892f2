"""`clip_gates`: the proximal step of LD-Net's layer selection, after every optimizer step."""
from typing import Any, Dict

from overrides import overrides

from lmlab.modules.layer_selection import clip_gates
from lmlab.training.callbacks import TrainerCallback
from lmlab.training.trainer import Trainer


@TrainerCallback.register("clip_gates")
class ClipGates(TrainerCallback):
    """Clips every trainable layer gate of the model's recurrent stacks into [0, 1] after each batch.

    Registered as a `TrainerCallback` with name "clip_gates"; `lmlab prune` adds it to the trainer.

    Parameters
        (none)
    Inputs
        trainer: the running trainer (its `model` is clipped).
    Outputs
        None; the gates are changed in place. With gradient accumulation some batches make no optimizer
        step: clipping again after them changes nothing.
    """

    @overrides
    def on_batch(self, trainer: Trainer, batch_outputs: Dict[str, Any], epoch: int, step: int) -> None:
        clip_gates(trainer.model)
