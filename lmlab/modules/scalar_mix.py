"""A learned, softmax-weighted sum of same-shaped layers (the ELMo "scalar mix")."""
from typing import List, Optional

import torch

from lmlab.common.errors import ConfigurationError


class ScalarMix(torch.nn.Module):
    """`gamma * sum_k softmax(s)_k * t_k` over K tensors of the same shape (Peters et al., 2018, eq. 1).

    Not registered: it is a building block of `Elmo` and of other layer-mixing modules.

    Parameters
        mixture_size: int                  K, the number of tensors mixed.
        do_layer_norm: bool = False        Normalise each tensor before mixing, with one mean and one
                                           variance per tensor taken over all real (unmasked) positions
                                           and all features of the batch.
        initial_scalar_parameters: Optional[List[float]] = None
                                           K unnormalised (pre-softmax) weights; default all 0 (uniform).
        trainable: bool = True             If False, the weights and gamma are frozen.
    Inputs
        tensors: K tensors of shape (B, T, D) (any shape works without layer norm);
        mask: (B, T) bool, True = token. Required when `do_layer_norm`, ignored otherwise.
    Outputs
        Same shape as each input. Without layer norm, positions that are zero in every input stay zero;
        with layer norm, padded positions hold `gamma * sum_k w_k (0 - mean_k) / std_k` (callers that
        care mask them).
    Attributes
        scalar_parameters: (K,) the unnormalised weights `s`;  gamma: (1,) the scale.
    """

    def __init__(
        self,
        mixture_size: int,
        do_layer_norm: bool = False,
        initial_scalar_parameters: Optional[List[float]] = None,
        trainable: bool = True,
    ) -> None:
        super().__init__()
        # run time: ScalarMix is not built from a config (its owner passes the number of layers it has)
        if mixture_size < 1:
            raise ConfigurationError(f"expected a mixture size of at least 1, found {mixture_size}", "mixture_size")
        if initial_scalar_parameters is None:
            initial_scalar_parameters = [0.0] * mixture_size
        elif len(initial_scalar_parameters) != mixture_size:
            raise ConfigurationError(
                f"expected {mixture_size} values (one per mixed layer), found {len(initial_scalar_parameters)}",
                "initial_scalar_parameters",
            )
        self.mixture_size = mixture_size
        self.do_layer_norm = do_layer_norm
        self.trainable = trainable
        self.scalar_parameters = torch.nn.Parameter(
            torch.tensor([float(s) for s in initial_scalar_parameters]), requires_grad=trainable
        )
        self.gamma = torch.nn.Parameter(torch.tensor([1.0]), requires_grad=trainable)

    def forward(self, tensors: List[torch.Tensor], mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        if len(tensors) != self.mixture_size:
            raise ValueError(f"ScalarMix expected {self.mixture_size} tensors to mix, found {len(tensors)}")
        weights = torch.softmax(self.scalar_parameters, dim=0)  # (K,)
        if self.do_layer_norm:
            if mask is None:
                raise ValueError("ScalarMix with do_layer_norm=True needs a mask (B, T) to know the real positions")
            # The statistics are shared by the whole batch: one mean and one variance per layer, computed
            # over real positions only, so that padding does not change the normalisation.
            keep = mask.unsqueeze(-1).to(tensors[0].dtype)  # (B, T, 1)
            count = keep.sum() * tensors[0].size(-1)  # number of real scalars
            tensors = [self._layer_norm(t, keep, count) for t in tensors]
        # K is the number of layers (3 for ELMo), so this loop is over layers, not tokens.
        mixed = weights[0] * tensors[0]
        for weight, tensor in zip(weights[1:], tensors[1:], strict=False):
            mixed = mixed + weight * tensor
        return self.gamma * mixed

    @staticmethod
    def _layer_norm(tensor: torch.Tensor, keep: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
        mean = (tensor * keep).sum() / count
        variance = (((tensor - mean) * keep) ** 2).sum() / count
        # The epsilon only guards against a constant layer (variance 0); it is far below float32 noise.
        return (tensor - mean) / torch.sqrt(variance + 1e-12)

    def extra_repr(self) -> str:
        return f"mixture_size={self.mixture_size}, do_layer_norm={self.do_layer_norm}, trainable={self.trainable}"
