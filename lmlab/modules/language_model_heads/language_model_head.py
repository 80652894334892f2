"""`LanguageModelHead`: the contract for turning hidden vectors into vocabulary logits."""
import torch

from lmlab.common.registrable import Registrable


class LanguageModelHead(torch.nn.Module, Registrable):
    """Maps hidden vectors to unnormalised scores over an output vocabulary.

    Base class of the "language_model_head" registry; default implementation "linear".

    Inputs
        hidden: (..., D) float, D = `get_input_dim()`.
    Outputs
        (..., V) float logits, V = `get_output_dim()`.
    """

    default_implementation = "linear"

    def get_input_dim(self) -> int:
        raise NotImplementedError

    def get_output_dim(self) -> int:
        raise NotImplementedError

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError
