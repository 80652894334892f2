"""Token (or any per-position) classification accuracy."""
from typing import Optional, Union

import torch

from lmlab.modules.metrics.metric import Metric


class CategoricalAccuracy(Metric):
    """Fraction of the positions whose predicted class is the gold class, since the last reset.

    Inputs
        predictions: (..., K) class scores (the argmax is the prediction) or (...) long class ids;
        gold_labels: (...) long;  mask: optional (...) bool, True = counted (e.g. real tokens).
    Outputs
        `get_metric()` -> float in [0, 1] (0.0 before any position was counted).
    Notes
        Counts stay on the predictions' device; `get_metric` is the only host-device sync.
    """

    totals = ("_correct", "_total")

    def __init__(self) -> None:
        self._correct: Union[torch.Tensor, int] = 0
        self._total: Union[torch.Tensor, int] = 0

    def __call__(self, predictions: torch.Tensor, gold_labels: torch.Tensor,
                 mask: Optional[torch.Tensor] = None) -> None:
        predictions, gold_labels = predictions.detach(), gold_labels.detach()
        if predictions.dim() == gold_labels.dim() + 1:
            predictions = predictions.argmax(dim=-1)
        if predictions.shape != gold_labels.shape:
            raise ValueError(f"predictions of shape {tuple(predictions.shape)} do not match gold labels of shape "
                             f"{tuple(gold_labels.shape)} (expected the same shape, or one more dim of scores)")
        counted = torch.ones_like(gold_labels, dtype=torch.bool) if mask is None else mask.bool()
        self._correct = self._correct + ((predictions == gold_labels) & counted).sum()
        self._total = self._total + counted.sum()

    def get_metric(self, reset: bool = False) -> float:
        total = int(self._total)
        accuracy = int(self._correct) / total if total else 0.0
        if reset:
            self.reset()
        return accuracy

    def reset(self) -> None:
        self._correct, self._total = 0, 0
