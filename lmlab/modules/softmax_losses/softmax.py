"""`softmax`: the exact softmax over the whole vocabulary."""
import torch
from torch.nn import functional as F

from lmlab.modules.softmax_losses.softmax_loss import SoftmaxLoss


@SoftmaxLoss.register("softmax")
class FullSoftmaxLoss(SoftmaxLoss):
    """Exact negative log-likelihood: `logits = embeddings @ W.T + b` over all V words.

    Registered as a `SoftmaxLoss` with name "softmax" (the default).

    Parameters
        num_words: int        V (run time).
        embedding_dim: int    D (run time).
        bias: bool = True     learn a (V,) bias.
    Inputs
        forward: embeddings (N, D) float, targets (N,) long.  log_probs: embeddings (..., D).
    Outputs
        forward: scalar sum of the N negative log-likelihoods.  log_probs: (..., V).
    Attributes
        weight: (V, D) Parameter, normal(0, 1/sqrt(D)) at start;  bias: (V,) Parameter (zeros) or None.
    Notes
        Costs O(N * V * D) time and an (N, V) logits tensor: use "sampled_softmax" for large V.
    """

    def __init__(self, num_words: int, embedding_dim: int, bias: bool = True) -> None:
        super().__init__()
        self.num_words = num_words
        self.embedding_dim = embedding_dim
        self.weight = torch.nn.Parameter(torch.empty(num_words, embedding_dim))
        self.bias = torch.nn.Parameter(torch.empty(num_words)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.weight.normal_(0.0, self.embedding_dim ** -0.5)
            if self.bias is not None:
                self.bias.zero_()

    def forward(self, embeddings: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = F.linear(embeddings, self.weight, self.bias)  # (N, V)
        return F.cross_entropy(logits, targets, reduction="sum")

    def log_probs(self, embeddings: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(F.linear(embeddings, self.weight, self.bias), dim=-1)  # (..., V)

    def extra_repr(self) -> str:
        return f"num_words={self.num_words}, embedding_dim={self.embedding_dim}, bias={self.bias is not None}"
