"""Running mean of a per-token negative log-likelihood, reported as a perplexity."""
import math
from typing import Union

import torch

from lmlab.modules.metrics.metric import Metric


class Perplexity(Metric):
    """exp(total NLL / total tokens), accumulated over batches.

    Inputs
        total_nll: scalar tensor, the *summed* negative log-likelihood (nats) of a batch;
        num_tokens: scalar tensor or int, how many tokens it sums over.
    Outputs
        `get_metric()` -> float perplexity (`inf` when the average NLL overflows; 0 tokens -> 0.0).
    """

    totals = ("_nll", "_count")

    def __init__(self) -> None:
        self._nll: Union[torch.Tensor, float] = 0.0
        self._count: Union[torch.Tensor, int] = 0

    def __call__(self, total_nll: torch.Tensor, num_tokens: Union[torch.Tensor, int]) -> None:
        self._nll = self._nll + total_nll.detach().double()
        self._count = self._count + (num_tokens.detach() if isinstance(num_tokens, torch.Tensor) else num_tokens)

    def get_metric(self, reset: bool = False) -> float:
        count = float(self._count)
        average = float(self._nll) / count if count else None
        if reset:
            self.reset()
        if average is None:
            return 0.0
        return math.exp(average) if average < 700 else float("inf")

    def reset(self) -> None:
        self._nll, self._count = 0.0, 0
