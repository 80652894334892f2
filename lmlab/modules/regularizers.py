"""L1/L2 penalties on parameters selected by regular expression, added to the training loss."""
import re
from typing import List, Tuple

import torch

from lmlab.common.constraints import NonNegativeFloat
from lmlab.common.from_params import FromParams
from lmlab.common.registrable import Registrable


class Regularizer(Registrable):
    """Penalty of one parameter.

    Inputs
        parameter: any shape.
    Outputs
        scalar tensor added to the loss.
    """

    def __call__(self, parameter: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


@Regularizer.register("l2")
class L2Regularizer(Regularizer):
    """alpha * sum(p^2). Inputs: a parameter. Outputs: a scalar tensor."""

    def __init__(self, alpha: NonNegativeFloat = 0.01) -> None:
        self.alpha = alpha

    def __call__(self, parameter: torch.Tensor) -> torch.Tensor:
        return self.alpha * parameter.pow(2).sum()


@Regularizer.register("l1")
class L1Regularizer(Regularizer):
    """alpha * sum(|p|). Inputs: a parameter. Outputs: a scalar tensor."""

    def __init__(self, alpha: NonNegativeFloat = 0.01) -> None:
        self.alpha = alpha

    def __call__(self, parameter: torch.Tensor) -> torch.Tensor:
        return self.alpha * parameter.abs().sum()


class RegularizerApplicator(FromParams):
    """Sum of the first matching regularizer over parameters whose names match (`re.search`)."""

    def __init__(self, regexes: List[Tuple[str, Regularizer]]) -> None:
        self.regexes = [(re.compile(pattern), regularizer) for pattern, regularizer in regexes]

    def __call__(self, module: torch.nn.Module) -> torch.Tensor:
        penalty = torch.zeros(())
        for name, parameter in module.named_parameters():
            for pattern, regularizer in self.regexes:
                if pattern.search(name):
                    penalty = penalty.to(parameter.device) + regularizer(parameter)
                    break
        return penalty
