"""`linear_cross_entropy`: summed softmax cross-entropy of a linear layer's logits, with one (N, V) buffer.

`F.cross_entropy(F.linear(x, W, b), y, reduction="sum")` computes the same value, but autograd then keeps
and creates several (N, V) tensors: the logits, their log-softmax (saved for the backward pass), a zero-filled
gradient of the log-softmax with one entry per row set, and the gradient of the logits. At a language
model's output layer (N = B*T rows, V = 33k words) each of these is ~100 MB and every pass over one costs
about as much as a small matmul. Here the logits are the only (N, V) tensor: the forward pass turns them into
`exp(logits - max)` in place, and the backward pass into `softmax - onehot(y)`, the gradient of the logits,
which it feeds to the two matmuls.
"""
from typing import Any, Optional, Tuple

import torch
from torch.autograd.function import FunctionCtx
from torch.nn import functional as F

from lmlab.modules.util import claim_single_backward


def linear_cross_entropy(inputs: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                         targets: torch.Tensor) -> torch.Tensor:
    """Summed negative log-likelihood of `targets` under `softmax(inputs @ weight.T + bias)`.

    Inputs
        inputs: (N, D) float;  weight: (V, D);  bias: (V,) or None;  targets: (N,) long in [0, V).
    Outputs
        scalar: sum over the N rows of `logsumexp(logits) - logits[target]`, as float32 or float64 (the
        logits are upcast from half precision, as autocast does for `cross_entropy`).
    Notes
        Differentiable once (the saved logits are overwritten by the backward pass; a second backward through
        the same graph raises). Under autocast the matmuls run in the autocast dtype, both ways.
    """
    return _LinearCrossEntropy.apply(inputs, weight, bias, targets)


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx: FunctionCtx, inputs: torch.Tensor, weight: torch.Tensor,
                bias: Optional[torch.Tensor], targets: torch.Tensor) -> torch.Tensor:
        logits = F.linear(inputs, weight, bias)  # (N, V), in the autocast dtype if autocast is on
        matmul_dtype = logits.dtype
        if logits.dtype in (torch.float16, torch.bfloat16):
            logits = logits.float()
        target_logits = logits.gather(1, targets.unsqueeze(1)).squeeze(1)  # (N,)
        maxima = logits.amax(dim=1, keepdim=True)  # (N, 1)
        # the logits become exp(logits - max) in place (no second (N, V) tensor); the backward pass only has
        # to divide them by their row sums to get the softmax
        exponentials = logits.sub_(maxima).exp_()  # (N, V)
        sums = exponentials.sum(dim=1)  # (N,)
        log_normalizers = maxima.squeeze(1) + sums.log()  # (N,)
        ctx.save_for_backward(inputs, weight, targets, exponentials, sums)
        ctx.has_bias = bias is not None  # type: ignore[attr-defined]
        ctx.matmul_dtype = matmul_dtype  # type: ignore[attr-defined]
        ctx.used = False  # type: ignore[attr-defined]
        return (log_normalizers - target_logits).sum()

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> Tuple[Optional[torch.Tensor], ...]:
        claim_single_backward(ctx, "linear_cross_entropy")
        inputs, weight, targets, exponentials, sums = ctx.saved_tensors
        # d loss / d logits = softmax(logits) - onehot(targets), made in the logits' own memory
        gradient = exponentials.div_(sums.unsqueeze(1))  # (N, V)
        gradient[torch.arange(len(targets), device=targets.device), targets] -= 1.0
        scale = grad_output.to(gradient.dtype)  # scaling the (N, D) and (V, D) results, not the (N, V) block
        gradient_in_matmul_dtype = gradient.to(ctx.matmul_dtype)
        grad_inputs = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_inputs = (gradient_in_matmul_dtype.mm(weight.to(ctx.matmul_dtype)) * scale).to(inputs.dtype)
        if ctx.needs_input_grad[1]:
            grad_weight = (gradient_in_matmul_dtype.t().mm(inputs.to(ctx.matmul_dtype)) * scale).to(weight.dtype)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = (gradient.sum(dim=0) * scale).to(weight.dtype)
        return grad_inputs, grad_weight, grad_bias, None
