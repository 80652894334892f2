"""LD-Net's layer selection ("pruning without retraining", Liu et al., EMNLP 2018): a sparsity objective on
the per-layer gates of frozen densely connected encoders, and the proximal step that keeps the gates in
[0, 1]. The layer surgery itself is the encoders' (`DenseRnn.prune_layers`)."""
import torch

from lmlab.common.constraints import NonNegativeFloat, NonNegativeInt
from lmlab.common.from_params import FromParams
from lmlab.modules.seq2seq_encoders.rnn_stack import RnnStack


class LayerSelection(FromParams):
    """Pushes the gates z of the selectable layers to 0 or 1, with at most `budget` of them left non-zero.

    Not registered: a config block (e.g. the "crf_tagger"'s `layer_selection`).

    Parameters
        budget: int              lambda_1, the number of layers (non-zero gates, all encoders together) to keep.
        strength: float = 0.05   lambda_0, LD-Net's setting for chunking and NER (`prune_sparse_seq.py`'s
                                 `seq_lambda0`). It is relative to a data term that is the negative
                                 log-likelihood per sentence (summed over the batch, divided by its number
                                 of sentences B, as LD-Net's `CRFLoss(average_batch=True)`), which is the
                                 loss a "crf_tagger" with `layer_selection` returns: the objective of a batch
                                 is -(1/B) sum_b log p(y_b | x_b) + penalty(z). Against a loss per token it
                                 would be about T (23.7 on CoNLL-2000) times stronger.
    Inputs
        gates: (N,) float, every selectable layer's gate (all encoders concatenated), in [0, 1].
    Outputs
        `penalty(gates)`: scalar, lambda_0 * sum z (1 - z), plus lambda_0 * sum of the non-zero z while more
        than `budget` of them are non-zero (LD-Net's regulariser; the first term pushes each gate to 0 or
        1, the second shrinks them all until the budget is met). `active(gates)`: scalar long, the number
        of non-zero gates.
    Notes
        Both are computed on the device without a host-device sync. The gates must be clipped into [0, 1]
        after every optimizer step (`clip_gates`, which the "clip_gates" trainer callback calls): a gate
        that reaches 0 then stays exactly 0, and its layer can be deleted.
    """

    def __init__(self, budget: NonNegativeInt, strength: NonNegativeFloat = 0.05) -> None:
        self.budget, self.strength = budget, strength

    def penalty(self, gates: torch.Tensor) -> torch.Tensor:
        nonzero = gates > 0  # (N,)
        over_budget = (nonzero.sum() > self.budget).to(gates.dtype)
        return self.strength * ((gates * (1 - gates)).sum() + over_budget * (gates * nonzero).sum())

    def active(self, gates: torch.Tensor) -> torch.Tensor:
        return (gates.detach() > 0).sum()

    def __repr__(self) -> str:
        return f"LayerSelection(budget={self.budget}, strength={self.strength})"


def clip_gates(module: torch.nn.Module) -> None:
    """The proximal step: clip every trainable gate of the recurrent stacks inside `module` into [0, 1]."""
    with torch.no_grad():
        for submodule in module.modules():
            if isinstance(submodule, RnnStack) and isinstance(submodule.gates, torch.nn.Parameter):
                submodule.gates.clamp_(0.0, 1.0)
