"""Highway layers (Srivastava et al., 2015): gated mixes of a transform and the identity."""
from typing import Iterable, Literal, cast

import torch

Activation = Literal["relu", "tanh", "gelu", "sigmoid", "linear"]
"""The elementwise functions a config can name (`activation_function` returns them)."""


class Highway(torch.nn.Module):
    """`y = g * x + (1 - g) * f(W x + b)` with gate `g = sigmoid(W_g x + b_g)`, stacked `num_layers` times.

    Not registered: a building block (used by the "character_encoding" token embedder).

    Parameters
        input_dim: int          H, the size of the input and of the output.
        num_layers: int = 1
        activation: Activation = "relu"   f: "relu", "tanh", "gelu", "sigmoid" or "linear".
    Inputs
        inputs: (..., H) float.
    Outputs
        (..., H) float.
    Notes
        The gate bias starts at 1, so each layer starts close to the identity (as in the paper).
    """

    def __init__(self, input_dim: int, num_layers: int = 1, activation: Activation = "relu") -> None:
        super().__init__()
        self.input_dim = input_dim
        self.num_layers = num_layers
        self.activation = activation_function(activation)
        self._activation_name = activation
        # one Linear per layer computing both the transform (first H) and the gate (last H)
        self.layers = torch.nn.ModuleList(torch.nn.Linear(input_dim, 2 * input_dim) for _ in range(num_layers))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for layer in cast(Iterable[torch.nn.Linear], self.layers):
            layer.reset_parameters()
            with torch.no_grad():
                layer.bias[self.input_dim:].fill_(1.0)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        current = inputs
        for layer in self.layers:
            transform, gate = layer(current).chunk(2, dim=-1)  # (..., H), (..., H)
            gate = torch.sigmoid(gate)
            current = gate * current + (1 - gate) * self.activation(transform)
        return current

    def extra_repr(self) -> str:
        return f"input_dim={self.input_dim}, num_layers={self.num_layers}, activation={self._activation_name!r}"


_ACTIVATIONS = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "gelu": torch.nn.functional.gelu,
    "sigmoid": torch.sigmoid,
    "linear": lambda x: x,
}


def activation_function(name: Activation):
    """The elementwise function called `name` ("relu", "tanh", "gelu", "sigmoid", "linear")."""
    if name not in _ACTIVATIONS:
        from lmlab.common.errors import did_you_mean

        raise ValueError(f'unknown activation "{name}"{did_you_mean(name, _ACTIVATIONS)}; '
                         f"expected one of {', '.join(_ACTIVATIONS)}")
    return _ACTIVATIONS[name]
