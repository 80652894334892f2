"""`softmax`: the exact softmax over the whole vocabulary."""
from typing import Optional

import torch
from torch.nn import functional as F

from lmlab.modules.softmax_losses.linear_cross_entropy import linear_cross_entropy
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
        Costs O(N * V * D) time and one (N, V) logits tensor, which the backward pass turns into their
        gradient in place (`linear_cross_entropy`): use "sampled_softmax" or "adaptive_softmax" for large V.
    Example
        >>> import torch
        >>> from lmlab.modules.softmax_losses import SoftmaxLoss
        >>> loss = SoftmaxLoss.from_params({"type": "softmax"}, num_words=10, embedding_dim=4)  # V, D at run time
        >>> embeddings, targets = torch.randn(6, 4), torch.tensor([1, 2, 3, 4, 5, 6])
        >>> log_probs = loss.log_probs(embeddings)  # (N, V)
        >>> bool(loss(embeddings, targets).allclose(-log_probs.gather(1, targets[:, None]).sum()))
        True
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
        return linear_cross_entropy(embeddings, self.weight, self.bias, targets)  # one (N, V) buffer

    def log_probs(self, embeddings: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(F.linear(embeddings, self.weight, self.bias), dim=-1)  # (..., V)

    vocabulary_block_size: int = 2048
    """Words per piece of the output matrix in `target_log_probs` (without gradients)."""

    def target_log_probs(self, embeddings: torch.Tensor, targets: torch.Tensor,
                         chunk_size: Optional[int] = None) -> torch.Tensor:
        """Exact, as the base class's. Without gradients, the log-sum-exp over V goes one (rows,
        vocabulary_block_size) block of logits at a time, in one buffer reused for every block (rows:
        `chunk_size`, or as many as keep the buffer within `scoring_block_size` values), and each target's
        logit is a dot product of its own. Every (block, D) piece of the matrix is then read once per chunk
        of rows while it is in cache, where projecting rows onto all V words streams the whole matrix from
        memory for each chunk: about a fifth less time on a CPU at V = 33k."""
        if torch.is_grad_enabled() and (embeddings.requires_grad or self.weight.requires_grad):
            return super().target_log_probs(embeddings, targets, chunk_size)  # in-place work has no gradient
        rows = chunk_size or max(1, self.scoring_block_size // self.vocabulary_block_size)
        weights = self.weight.split(self.vocabulary_block_size)  # ((block, D), ...)
        biases = (None,) * len(weights) if self.bias is None else self.bias.split(self.vocabulary_block_size)
        pieces = list(zip(weights, biases, strict=True))
        scores = []
        for chunk, chunk_targets in zip(embeddings.split(rows), targets.split(rows), strict=True):
            buffer = chunk.new_empty(len(chunk) * self.vocabulary_block_size)
            partial = chunk.new_empty(len(chunk), len(pieces))  # (rows, blocks): log-sum-exp of each block
            for index, (weight, bias) in enumerate(pieces):
                logits = buffer[:len(chunk) * len(weight)].view(len(chunk), len(weight))  # (rows, block)
                if bias is None:
                    torch.mm(chunk, weight.t(), out=logits)
                else:
                    torch.addmm(bias, chunk, weight.t(), out=logits)
                maxes = logits.amax(dim=1, keepdim=True)  # (rows, 1)
                partial[:, index] = logits.sub_(maxes).exp_().sum(dim=1).log_().add_(maxes.squeeze(1))
            logits_at_targets = (chunk * self.weight[chunk_targets]).sum(dim=1)  # (rows,)
            if self.bias is not None:
                logits_at_targets = logits_at_targets + self.bias[chunk_targets]
            scores.append(logits_at_targets - partial.logsumexp(dim=1))
        return torch.cat(scores) if scores else embeddings.new_zeros(0)

    def extra_repr(self) -> str:
        return f"num_words={self.num_words}, embedding_dim={self.embedding_dim}, bias={self.bias is not None}"
