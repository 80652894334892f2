"""`SoftmaxLoss`: the contract for scoring target tokens against a vocabulary."""
from typing import Optional

import torch

from lmlab.common.registrable import Registrable


class SoftmaxLoss(torch.nn.Module, Registrable):
    """Negative log-likelihood of target ids under a softmax over V words, from D-dimensional vectors.

    Base class of the "softmax_loss" registry; default implementation "softmax".

    Parameters (every implementation)
        num_words: int       V; passed by the model at run time (not in the config).
        embedding_dim: int   D; passed by the model at run time (not in the config).
    Inputs
        forward: embeddings (N, D) float, targets (N,) long; only real (non-padded) rows.
        log_probs: embeddings (..., D) float.
        target_log_probs: embeddings (N, D) float, targets (N,) long, chunk_size: Optional[int].
    Outputs
        forward: scalar, the *sum* of the N negative log-likelihoods (the caller divides by its count).
        log_probs: (..., V) full-vocabulary log-probabilities (for evaluation and prediction).
        target_log_probs: (N,) log-probability of each target (for scoring sentences), exact in any mode.
    Notes
        `tie_weights(weight)` shares the (V, D) output matrix with an input embedding's `weight`; a shape
        mismatch is a ValueError naming both shapes. Models build a loss with
        `Lazy[SoftmaxLoss].construct(num_words=V, embedding_dim=D)`.
        `requires_frequency_sorted_vocabulary` (class attribute, default False) is True for losses that
        assume ids sorted by decreasing frequency; models then refuse a vocabulary namespace that
        `Vocabulary.is_frequency_sorted` does not vouch for.
    """

    default_implementation = "softmax"
    run_time_arguments = ("num_words", "embedding_dim")
    requires_frequency_sorted_vocabulary: bool = False
    scoring_block_size: int = 1 << 22
    """Most log-probabilities (rows x V) `target_log_probs` computes at once when not given a chunk size: 16 MB
    of float32, so that on a CPU a block's memory is reused from one chunk to the next (the allocator maps
    blocks over 32 MB afresh, page faults and all, every time: about 15% of scoring at V = 33k)."""

    num_words: int
    weight: torch.nn.Parameter

    def forward(self, embeddings: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def log_probs(self, embeddings: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def target_log_probs(self, embeddings: torch.Tensor, targets: torch.Tensor,
                         chunk_size: Optional[int] = None) -> torch.Tensor:
        """(N,) log-probabilities of `targets` (N,) under the full softmax of `embeddings` (N, D).

        `log_probs` of `chunk_size` rows at a time (default: as many rows as keep a (rows, V) block under
        `scoring_block_size` values), each gathered at its targets, so the (N, V) block of all rows never
        exists: peak memory is one (chunk_size, V) block whatever N. Losses with a cheaper exact way
        override this.
        """
        rows = chunk_size or max(1, self.scoring_block_size // self.num_words)
        chunks = [self.log_probs(chunk).gather(1, chunk_targets.unsqueeze(1)).squeeze(1)  # (rows,)
                  for chunk, chunk_targets in zip(embeddings.split(rows), targets.split(rows), strict=True)]
        return torch.cat(chunks) if chunks else embeddings.new_zeros(0)

    def tie_weights(self, weight: torch.nn.Parameter) -> None:
        """Use `weight` (V, D), typically `embedding.weight`, as this loss's output matrix."""
        if tuple(weight.shape) != tuple(self.weight.shape):
            raise ValueError(f"cannot tie the softmax weight of shape {tuple(self.weight.shape)} (V, D) to a weight "
                             f"of shape {tuple(weight.shape)}")
        self.weight = weight
