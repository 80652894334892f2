"""Optimizers from configs, with per-group settings chosen by parameter-name regexes.

    "optimizer": {"type": "adam", "lr": 1e-3,
                  "parameter_groups": [[["_text_field_embedder.*"], {"lr": 1e-4}]]}

A parameter joins the first group whose regexes match its name (`re.search`); the rest form the
default group. A group regex that matches nothing is a config error. `model_parameters` (a list of
(name, parameter) pairs) is given at run time by the trainer.
"""
import re
from typing import Annotated, Any, Callable, Dict, List, Optional, Tuple

import torch
from torch.optim.adam import adam

from lmlab.common.constraints import NonNegativeFloat, PositiveFloat, Probability, Range
from lmlab.common.errors import ConfigurationError
from lmlab.common.registrable import Registrable

ParameterGroups = Optional[List[Tuple[List[str], Dict[str, Any]]]]

Beta = Annotated[float, Range(0.0, 1.0, high_open=True)]
"""An Adam moving-average coefficient: in [0, 1)."""


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
        if not buckets[index]:  # run time: the model's parameter names
            raise ConfigurationError(f"parameter group regexes {regexes} match no trainable parameter",
                                     f"parameter_groups[{index}]")
    result = [{"params": params, **options} for params, (_, options) in zip(buckets, groups, strict=False)]
    if buckets[-1]:
        result.append({"params": buckets[-1]})
    return result


def fused_kernel_applies(groups: List[Dict[str, Any]]) -> bool:
    """Whether torch's fused Adam/AdamW kernel can update every parameter of `groups`: floating point, on the
    CPU or a CUDA device. It makes one pass over each parameter and its two moments per step instead of about
    seven (the default on the CPU is the per-tensor loop): at 33k x 200 on one CPU thread, 17 ms instead of
    105 ms per step for two such matrices. Its results differ from the loop's by rounding (~1 ulp)."""
    return all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for group in groups for p in group["params"])


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
    """torch.optim.Adam (fused kernel, see `fused_kernel_applies`). Inputs: model_parameters. Outputs: an optimizer."""

    def __init__(self, model_parameters: List[Tuple[str, torch.nn.Parameter]], parameter_groups: ParameterGroups = None,
                 lr: PositiveFloat = 0.001, betas: Tuple[Beta, Beta] = (0.9, 0.999), eps: PositiveFloat = 1e-08,
                 weight_decay: NonNegativeFloat = 0.0, amsgrad: bool = False) -> None:
        groups = make_parameter_groups(model_parameters, parameter_groups)
        super().__init__(groups, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         fused=fused_kernel_applies(groups) or None)


@Optimizer.register("adamw")
class AdamWOptimizer(Optimizer, torch.optim.AdamW):
    """torch.optim.AdamW (fused kernel, see `fused_kernel_applies`). Inputs: model_parameters. Outputs: an optimizer."""

    def __init__(self, model_parameters: List[Tuple[str, torch.nn.Parameter]], parameter_groups: ParameterGroups = None,
                 lr: PositiveFloat = 0.001, betas: Tuple[Beta, Beta] = (0.9, 0.999), eps: PositiveFloat = 1e-08,
                 weight_decay: NonNegativeFloat = 0.01, amsgrad: bool = False) -> None:
        groups = make_parameter_groups(model_parameters, parameter_groups)
        super().__init__(groups, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         fused=fused_kernel_applies(groups) or None)


@Optimizer.register("sgd")
class SgdOptimizer(Optimizer, torch.optim.SGD):
    """torch.optim.SGD (handles sparse gradients). Inputs: model_parameters. Outputs: an optimizer."""

    def __init__(self, model_parameters: List[Tuple[str, torch.nn.Parameter]], lr: PositiveFloat,
                 parameter_groups: ParameterGroups = None, momentum: NonNegativeFloat = 0.0,
                 dampening: Probability = 0.0, weight_decay: NonNegativeFloat = 0.0, nesterov: bool = False) -> None:
        super().__init__(make_parameter_groups(model_parameters, parameter_groups), lr=lr, momentum=momentum,
                         dampening=dampening, weight_decay=weight_decay, nesterov=nesterov)


@Optimizer.register("adagrad")
class AdagradOptimizer(Optimizer, torch.optim.Adagrad):
    """torch.optim.Adagrad (handles sparse gradients). Inputs: model_parameters. Outputs: an optimizer."""

    def __init__(self, model_parameters: List[Tuple[str, torch.nn.Parameter]], parameter_groups: ParameterGroups = None,
                 lr: PositiveFloat = 0.01, lr_decay: NonNegativeFloat = 0.0, weight_decay: NonNegativeFloat = 0.0,
                 initial_accumulator_value: NonNegativeFloat = 0.0, eps: PositiveFloat = 1e-10) -> None:
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
                 lr: PositiveFloat = 0.001, betas: Tuple[Beta, Beta] = (0.9, 0.999),
                 eps: PositiveFloat = 1e-08) -> None:
        super().__init__(make_parameter_groups(model_parameters, parameter_groups),
                         dict(lr=lr, betas=betas, eps=eps))

    @torch.no_grad()
    def step(self, closure: Optional[Callable[[], float]] = None) -> Optional[float]:  # type: ignore[override]
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            dense: List[Tuple[torch.Tensor, ...]] = []  # (parameter, gradient, exp_avg, exp_avg_sq, step)
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                grad = p.grad
                if not grad.is_sparse:
                    # torch's Adam function counts the step itself, in a float32 tensor on the parameter's device
                    state["step"] = torch.as_tensor(state["step"], dtype=torch.float32, device=p.device)
                    dense.append((p, grad, exp_avg, exp_avg_sq, state["step"]))
                    continue
                state["step"] += 1
                bias1, bias2 = 1 - beta1 ** state["step"], 1 - beta2 ** state["step"]
                grad = grad.coalesce()
                rows, values = grad.indices()[0], grad.values()
                avg = exp_avg[rows].mul_(beta1).add_(values, alpha=1 - beta1)
                avg_sq = exp_avg_sq[rows].mul_(beta2).addcmul_(values, values, value=1 - beta2)
                exp_avg[rows], exp_avg_sq[rows] = avg, avg_sq
                update = (avg / bias1) / ((avg_sq / bias2).sqrt_().add_(group["eps"]))
                p.index_add_(0, rows, update, alpha=-group["lr"])
            if dense:
                # the dense gradients: torch's Adam, fused into one pass per parameter where it can be
                parameters, grads, exp_avgs, exp_avg_sqs, steps = (list(column) for column in zip(*dense, strict=True))
                fused = fused_kernel_applies([{"params": parameters}])
                adam(parameters, grads, exp_avgs, exp_avg_sqs, [], steps, fused=fused or None, amsgrad=False,
                     beta1=beta1, beta2=beta2, lr=group["lr"], weight_decay=0.0, eps=group["eps"], maximize=False)
        return loss
