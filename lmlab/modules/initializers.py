"""Parameter initialisation by regular expression over parameter names, from a config.

    "initializer": {"regexes": [["_contextualizer.*weight_hh", {"type": "orthogonal"}],
                                [".*bias", {"type": "constant", "val": 0.0}]]}
"""
import re
from typing import List, Optional, Tuple

import torch

from lmlab.common.errors import ConfigurationError
from lmlab.common.from_params import FromParams
from lmlab.common.registrable import Registrable


class Initializer(Registrable):
    """Fills one parameter tensor in place.

    Inputs
        tensor: any shape; modified in place under `torch.no_grad()`.
    Outputs
        None.
    """

    def __call__(self, tensor: torch.Tensor) -> None:
        raise NotImplementedError


@Initializer.register("normal")
class NormalInitializer(Initializer):
    """Normal(mean, std). Inputs: a tensor. Outputs: none (in place)."""

    def __init__(self, mean: float = 0.0, std: float = 0.02) -> None:
        self.mean, self.std = mean, std

    def __call__(self, tensor: torch.Tensor) -> None:
        torch.nn.init.normal_(tensor, self.mean, self.std)


@Initializer.register("uniform")
class UniformInitializer(Initializer):
    """Uniform(a, b). Inputs: a tensor. Outputs: none (in place)."""

    def __init__(self, a: float = -0.1, b: float = 0.1) -> None:
        self.a, self.b = a, b

    def __call__(self, tensor: torch.Tensor) -> None:
        torch.nn.init.uniform_(tensor, self.a, self.b)


@Initializer.register("constant")
class ConstantInitializer(Initializer):
    """Every entry set to `val`. Inputs: a tensor. Outputs: none (in place)."""

    def __init__(self, val: float = 0.0) -> None:
        self.val = val

    def __call__(self, tensor: torch.Tensor) -> None:
        torch.nn.init.constant_(tensor, self.val)


@Initializer.register("xavier_uniform")
class XavierUniformInitializer(Initializer):
    """Glorot uniform with `gain`. Inputs: a tensor of >= 2 dims. Outputs: none (in place)."""

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = gain

    def __call__(self, tensor: torch.Tensor) -> None:
        torch.nn.init.xavier_uniform_(tensor, self.gain)


@Initializer.register("orthogonal")
class OrthogonalInitializer(Initializer):
    """(Semi-)orthogonal matrix with `gain`. Inputs: a tensor of >= 2 dims. Outputs: none (in place)."""

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = gain

    def __call__(self, tensor: torch.Tensor) -> None:
        torch.nn.init.orthogonal_(tensor, self.gain)


class InitializerApplicator(FromParams):
    """Applies the first matching initializer to each parameter whose name matches a regex.

    Parameters
        regexes: [[regex, initializer], ...] tried in order with `re.search`.
        prevent_regexes: parameters matching any of these are left alone.
    Notes
        A regex that matches no parameter is a config error: it is almost always a typo.
    """

    def __init__(self, regexes: Optional[List[Tuple[str, Initializer]]] = None,
                 prevent_regexes: Optional[List[str]] = None) -> None:
        self.regexes = [(re.compile(pattern), init) for pattern, init in (regexes or [])]
        self.prevent = [re.compile(pattern) for pattern in (prevent_regexes or [])]

    def __call__(self, module: torch.nn.Module) -> None:
        used = set()
        with torch.no_grad():
            for name, parameter in module.named_parameters():
                if any(p.search(name) for p in self.prevent):
                    continue
                for index, (pattern, initializer) in enumerate(self.regexes):
                    if pattern.search(name):
                        initializer(parameter)
                        used.add(index)
                        break
        unused = [pattern.pattern for index, (pattern, _) in enumerate(self.regexes) if index not in used]
        if unused:  # run time: the parameter names of the built model
            raise ConfigurationError(f"initializer regex {unused[0]!r} matches no parameter of "
                                     f"{type(module).__name__}", "initializer.regexes")
