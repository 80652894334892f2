"""Small tensor helpers shared by modules and models: masks from text fields, masked means, row reversal.

Conventions: a mask is a bool tensor, `True` marks a real token; padding is id 0 and sits at the end of
each row (right padding). Nothing here syncs with the device: no `.item()`, `.tolist()` or `nonzero()`.
"""
from typing import Any, Dict

import torch

from lmlab.common.errors import ConfigurationError, did_you_mean

TextFieldTensors = Dict[str, Dict[str, torch.Tensor]]
"""A batched text field: `{indexer_name: {key: LongTensor}}`, e.g. `{"tokens": {"tokens": (B, T)}}`."""


def get_text_field_mask(text_field_tensors: TextFieldTensors, num_wrapping_dims: int = 0) -> torch.Tensor:
    """(B, T) bool mask of a batched text field, `True` where there is a token.

    Uses the first indexer's `"mask"` tensor when it has one, else that indexer's first tensor: a tensor
    of shape (B, [W...,] T) is a token where the id is non-zero; one of shape (B, [W...,] T, C) (e.g.
    characters) is a token where any of its C ids is non-zero. `num_wrapping_dims` counts extra
    dimensions W between B and T (a list field of text fields); the mask then has shape (B, W..., T).
    """
    if not text_field_tensors:  # run time (this and the checks below): the tensors of a batch
        raise ConfigurationError("cannot build a mask from an empty text field (no indexers)")
    indexer_name, tensors = next(iter(text_field_tensors.items()))
    if not tensors:
        raise ConfigurationError(f'cannot build a mask: indexer "{indexer_name}" produced no tensors')
    if "mask" in tensors:
        return tensors["mask"].bool()
    ids = next(iter(tensors.values()))
    token_dims = 2 + num_wrapping_dims
    if ids.dim() == token_dims:
        return ids != 0
    if ids.dim() == token_dims + 1:
        return (ids != 0).any(dim=-1)
    raise ValueError(f'indexer "{indexer_name}": expected a tensor with {token_dims} or {token_dims + 1} '
                     f"dimensions (num_wrapping_dims={num_wrapping_dims}), found shape {tuple(ids.shape)}")


def get_token_ids(text_field_tensors: TextFieldTensors, indexer: str = "tokens") -> torch.Tensor:
    """The (B, T) token ids of `indexer` (e.g. the targets of a language model).

    The indexer's dict must hold a single tensor, or one whose key is the indexer's name or "tokens".
    """
    if indexer not in text_field_tensors:  # run time (this and the check below): the tensors of a batch
        available = sorted(text_field_tensors)
        raise ConfigurationError(f'the batch has no indexer "{indexer}"{did_you_mean(indexer, available)} '
                                 f"(indexers: {', '.join(available) or 'none'})")
    tensors = text_field_tensors[indexer]
    if len(tensors) == 1:
        return next(iter(tensors.values()))
    for key in (indexer, "tokens", "token_ids"):
        if key in tensors:
            return tensors[key]
    raise ConfigurationError(f'indexer "{indexer}" has several tensors ({", ".join(sorted(tensors))}) and none '
                             f'is named "{indexer}" or "tokens"')


def sequence_lengths(mask: torch.Tensor) -> torch.Tensor:
    """(B,) number of real tokens per row of a (B, T) mask."""
    return mask.sum(dim=-1, dtype=torch.long)


def masked_mean(tensor: torch.Tensor, mask: torch.Tensor, dim: int, keepdim: bool = False) -> torch.Tensor:
    """Mean of `tensor` over `dim`, counting only positions where `mask` (broadcastable) is True.

    Where no position is real the result is 0 (not NaN).
    """
    mask = mask.expand_as(tensor) if mask.shape != tensor.shape else mask
    total = tensor.masked_fill(~mask, 0).sum(dim=dim, keepdim=keepdim)
    count = mask.sum(dim=dim, keepdim=keepdim).clamp(min=1)
    return total / count.to(tensor.dtype)


def reverse_padded_rows(tensor: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse the first `lengths[b]` timesteps of every row b of a (B, T, ...) tensor; padding stays put.

    `out[b, t] = tensor[b, lengths[b] - 1 - t]` for `t < lengths[b]`, else `tensor[b, t]`. The map is its
    own inverse, so applying it twice restores the input. One `gather`, no loop over rows. Used to run
    a backward language model with forward-only (causal) machinery: after reversal, each row starts at
    its own last real token, and its padding is still at the end.
    """
    batch_size, timesteps = tensor.shape[:2]
    positions = torch.arange(timesteps, device=tensor.device).unsqueeze(0)  # (1, T)
    lengths = lengths.to(tensor.device).unsqueeze(1)  # (B, 1)
    source = torch.where(positions < lengths, lengths - 1 - positions, positions)  # (B, T)
    index = source.view(batch_size, timesteps, *([1] * (tensor.dim() - 2))).expand_as(tensor)  # (B, T, ...)
    return tensor.gather(1, index)


def zero_padding(tensor: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """`tensor` (B, T, ...) with every position where the (B, T) `mask` is False set to 0."""
    padding = ~mask.view(*mask.shape, *([1] * (tensor.dim() - mask.dim())))  # (B, T, 1...)
    return tensor.masked_fill(padding, 0)


def claim_single_backward(ctx: Any, what: str) -> None:
    """Refuse a second backward pass through an autograd function whose backward overwrites its saved
    tensors in place (to keep one (N, V) buffer); `ctx.used` is set to False by its forward."""
    if ctx.used:
        raise RuntimeError(f"{what} reuses its saved tensors for the gradient: it can be differentiated only once "
                           "per forward pass")
    ctx.used = True
