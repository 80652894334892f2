"""Optimizers from configs, with per-group settings chosen by parameter-name regexes.

    "optimizer": {"type": "adam", "lr": 1e-3,
                  "parameter_groups": [[["_text_field_embedder.*"], {"lr": 1e-4}]]}

A parameter joins the first group whose regexes match its name (`re.search`); the rest form the
default group. A group regex that matches nothing is a config error. `model_parameters` (a list of
(name, parameter) pairs) is given at run time by the trainer.
"""
import re
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch

from lmlab.common.errors import ConfigurationError
from lmlab.common.registrable import Registrable

ParameterGroups = Optional[List[Tuple[List[str], Dict[str, Any]]]]


def make_parameter_groups(model_parameters: List[Tuple[str, torch.nn.Parameter]],
                          groups: ParameterGroups) -> List[Dict[str, Any]]:
    """torch param-group dicts: one per configured group (in order), then the unmatched rest."""
    trainable = [(name, p) for name, p in model_parameters if p.requires_grad]
    if not groups:
        return [{"params": [p for _, p in trainable]}]
    compiled = [([re.compile(r) for r in regexes], options) for regexes, options in groups]
    buckets: List[List[torch.nn.Parameter]] = [[] for _ in range(len(groups) + 1)]
    for name, parameter in trainable:
        index = next((i for i, (regexes, _) in enumerate(compiled) if any(r.search(name) for r in regexes)),
                     len(groups))
        buckets[index].append(parameter)
    for index, (regexes, _) in enumerate(groups):
        if not buckets[index]:
            raise ConfigurationError(f"parameter group regexes {regexes} match no trainable parameter",
                                     f"parameter_groups[{index}]")
    result = [{"params": params, **options} for params, (_, options) in zip(buckets, groups)]
    if buckets[-1]:
        result.append({"params": buckets[-1]})
    return result


class Optimizer(Registrable):
    """A `torch.optim.Optimizer` built from a config (mixin: implementations also subclass the torch class).

    Inputs
        model_parameters: [(name, Parameter)] at run time; parameter_groups: see the module docstring.
    Outputs
        The torch optimizer API (`step`, `zero_grad`, `state_dict`, ...).
    """

    default_implementation = "adam"
    run_time_arguments = ("model_parameters",)


@Optimizer.register("adam")
class AdamOptimizer(Optimizer, torch.optim.Adam):
    """torch.optim.Adam. Inputs: model_parameters. Outputs: an optimizer."""

    def __init__(self, model_parameters: List[Tuple[str, torch.nn.Parameter]], parameter_groups: ParameterGroups = None,
                 lr: float = 0.001, betas: Tuple[float, float] = (0.9, 0.999), eps: float = 1e-08,
                 weight_decay: float = 0.0, amsgrad: bool = False) -> None:
        super().__init__(make_parameter_groups(model_parameters, parameter_groups), lr=lr, betas=betas, eps=eps,
                         weight_decay=weight_decay, amsgrad=amsgrad)


@Optimizer.register("adamw")
class AdamWOptimizer(Optimizer, torch.optim.AdamW):
    """torch.optim.AdamW (fused kernels on CUDA). Inputs: model_parameters. Outputs: an optimizer."""

    def __init__(self, model_parameters: List[Tuple[str, torch.nn.Parameter]], parameter_groups: ParameterGroups = None,
                 lr: float = 0.001, betas: Tuple[float, float] = (0.9, 0.999), eps: float = 1e-08,
                 weight_decay: float = 0.01, amsgrad: bool = False) -> None:
        groups = make_parameter_groups(model_parameters, parameter_groups)
        on_cuda = all(p.is_cuda for group in groups for p in group["params"])
        super().__init__(groups, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         fused=on_cuda or None)


@Optimizer.register("sgd")
class SgdOptimizer(Optimizer, torch.optim.SGD):
    """torch.optim.SGD (handles sparse gradients). Inputs: model_parameters. Outputs: an optimizer."""

    def __init__(self, model_parameters: List[Tuple[str, torch.nn.Parameter]], lr: float,
                 parameter_groups: ParameterGroups = None, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False) -> None:
        super().__init__(make_parameter_groups(model_parameters, parameter_groups), lr=lr, momentum=momentum,
                         dampening=dampening, weight_decay=weight_decay, nesterov=nesterov)


@Optimizer.register("adagrad")
class AdagradOptimizer(Optimizer, torch.optim.Adagrad):
    """torch.optim.Adagrad (handles sparse gradients). Inputs: model_parameters. Outputs: an optimizer."""

    def __init__(self, model_parameters: List[Tuple[str, torch.nn.Parameter]], parameter_groups: ParameterGroups = None,
                 lr: float = 0.01, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10) -> None:
        super().__init__(make_parameter_groups(model_parameters, parameter_groups), lr=lr, lr_decay=lr_decay,
                         weight_decay=weight_decay, initial_accumulator_value=initial_accumulator_value, eps=eps)


@Optimizer.register("dense_sparse_adam")
class DenseSparseAdam(Optimizer, torch.optim.Optimizer):
    """Adam for models mixing dense and sparse gradients (a sampled softmax with sparse embeddings).

    Registered as an `Optimizer` with name "dense_sparse_adam". Dense gradients get the usual Adam
    update; sparse ones get lazy Adam (like `torch.optim.SparseAdam`): only the rows present in the
    gradient have their moments and values updated.
    Inputs: model_parameters. Outputs: an optimizer.
    """

    def __init__(self, model_parameters: List[Tuple[str, torch.nn.Parameter]], parameter_groups: ParameterGroups = None,
                 lr: float = 0.001, betas: Tuple[float, float] = (0.9, 0.999), eps: float = 1e-08) -> None:
        super().__init__(make_parameter_groups(model_parameters, parameter_groups),
                         dict(lr=lr, betas=betas, eps=eps))

    @torch.no_grad()
    def step(self, closure: Optional[Callable[[], float]] = None) -> Optional[float]:  # type: ignore[override]
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                bias1, bias2 = 1 - beta1 ** state["step"], 1 - beta2 ** state["step"]
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                grad = p.grad
                if grad.is_sparse:
                    grad = grad.coalesce()
                    rows, values = grad.indices()[0], grad.values()
                    avg = exp_avg[rows].mul_(beta1).add_(values, alpha=1 - beta1)
                    avg_sq = exp_avg_sq[rows].mul_(beta2).addcmul_(values, values, value=1 - beta2)
                    exp_avg[rows], exp_avg_sq[rows] = avg, avg_sq
                    update = (avg / bias1) / ((avg_sq / bias2).sqrt_().add_(group["eps"]))
                    p.index_add_(0, rows, update, alpha=-group["lr"])
                else:
                    exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
                    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                    denominator = (exp_avg_sq / bias2).sqrt_().add_(group["eps"])
                    p.addcdiv_(exp_avg, denominator, value=-group["lr"] / bias1)
        return loss
