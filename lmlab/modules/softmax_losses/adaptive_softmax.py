"""`adaptive_softmax`: a head over the frequent words plus cheaper tail clusters (Grave et al., 2017)."""
from typing import Annotated, List, Optional

import torch

from lmlab.common.constraints import Increasing, Length, PositiveFloat, PositiveInt
from lmlab.common.errors import ConfigurationError
from lmlab.modules.softmax_losses.softmax_loss import SoftmaxLoss


@SoftmaxLoss.register("adaptive_softmax")
class AdaptiveSoftmaxLoss(SoftmaxLoss):
    """Exact NLL under a two-level softmax: frequent words in a head, rarer words in tail clusters.

    Registered as a `SoftmaxLoss` with name "adaptive_softmax".

    Parameters
        num_words: int           V (run time).
        embedding_dim: int       D (run time).
        cutoffs: List[int]       increasing ids c_1 < ... < c_n < V: the head holds ids [0, c_1) plus one
                                 entry per tail cluster; cluster i holds ids [c_i, c_{i+1}) (c_{n+1} = V).
        div_value: float = 4.0   tail cluster i reads a projection of size D / div_value^i (i = 1..n),
                                 so rarer words cost less.
        head_bias: bool = False  learn a bias for the head.
    Inputs
        forward: embeddings (N, D) float, targets (N,) long in [0, V).  log_probs: embeddings (..., D).
        target_log_probs: embeddings (N, D), targets (N,); the chunk size is not needed (see Notes).
    Outputs
        forward: scalar sum of the N negative log-likelihoods, exact in training and evaluation.
        log_probs: (..., V) full-vocabulary log-probabilities (rows sum to 1).
        target_log_probs: (N,) log-probabilities of the targets.
    Attributes
        adaptive: the `torch.nn.AdaptiveLogSoftmaxWithLoss` doing the work (head: Linear(D, c_1 + n);
        tail[i]: Linear(D, D // div_value^(i+1)) then Linear(.., cluster size)).
    Notes
        P(w) = P_head(w) for a head word, P_head(cluster i) * P_i(w) for a word of cluster i. A
        training step computes the head for every row and each tail only for the rows whose target
        is in it, so the cost is dominated by c_1 rather than V; `target_log_probs` computes the same
        way, so scoring never holds more than (N, c_1 + n) head logits. This assumes ids sorted by frequency
        (most frequent first): `requires_frequency_sorted_vocabulary` is True, and models refuse a
        vocabulary namespace not recorded as sorted (`Vocabulary.is_frequency_sorted`).
        There is no single (V, D) output matrix, so `tie_weights` is a ValueError.
    Example
        >>> import torch
        >>> from lmlab.modules.softmax_losses import SoftmaxLoss
        >>> loss = SoftmaxLoss.from_params({"type": "adaptive_softmax", "cutoffs": [4, 8], "div_value": 2.0},
        ...                                num_words=10, embedding_dim=4)  # head: ids 0-3; tails 4-7, 8-9
        >>> probabilities = loss.log_probs(torch.randn(6, 4)).exp()  # (N, V)
        >>> bool(probabilities.sum(-1).allclose(torch.ones(6)))
        True
    """

    requires_frequency_sorted_vocabulary = True

    def __init__(self, num_words: int, embedding_dim: int,
                 cutoffs: Annotated[List[PositiveInt], Length(1), Increasing()], div_value: PositiveFloat = 4.0,
                 head_bias: bool = False) -> None:
        super().__init__()
        if cutoffs[-1] >= num_words:  # run time: num_words is the vocabulary size
            raise ConfigurationError(f"expected ids below the vocabulary size V = {num_words}, found {list(cutoffs)}",
                                     "cutoffs")
        if embedding_dim // div_value ** len(cutoffs) < 1:  # run time: embedding_dim is given by the model
            raise ConfigurationError(f"the last tail cluster's projection D / div_value^{len(cutoffs)} = "
                                     f"{embedding_dim} / {div_value}^{len(cutoffs)} is below 1; lower div_value",
                                     "div_value")
        self.num_words = num_words
        self.embedding_dim = embedding_dim
        self.cutoffs = list(cutoffs)
        self.div_value = div_value
        self.adaptive = torch.nn.AdaptiveLogSoftmaxWithLoss(embedding_dim, num_words, self.cutoffs,
                                                            div_value=div_value, head_bias=head_bias)

    def reset_parameters(self) -> None:
        self.adaptive.reset_parameters()

    def forward(self, embeddings: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return -self.adaptive(embeddings, targets).output.sum()  # output: (N,) target log-probabilities

    def log_probs(self, embeddings: torch.Tensor) -> torch.Tensor:
        flat = embeddings.reshape(-1, self.embedding_dim)  # (N, D): torch's log_prob takes 2-D input
        return self.adaptive.log_prob(flat).view(*embeddings.shape[:-1], self.num_words)  # (..., V)

    def target_log_probs(self, embeddings: torch.Tensor, targets: torch.Tensor,
                         chunk_size: Optional[int] = None) -> torch.Tensor:
        """Exact, without any (rows, V) block: the head for every row, each tail only for its own rows."""
        return self.adaptive(embeddings, targets).output  # (N,)

    def tie_weights(self, weight: torch.nn.Parameter) -> None:
        raise ValueError("adaptive_softmax has no single (V, D) output matrix to tie to an embedding; "
                         "use the softmax (or sampled_softmax) to tie, or drop tie_embeddings")

    def extra_repr(self) -> str:
        return (f"num_words={self.num_words}, embedding_dim={self.embedding_dim}, cutoffs={self.cutoffs}, "
                f"div_value={self.div_value}")
