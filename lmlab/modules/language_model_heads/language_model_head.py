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

    tie_embeddings: bool = False
    """True when the head is built to share its (V, D) matrix with the input embedding (see `tie_weights`)."""

    def tie_weights(self, weight: torch.nn.Parameter) -> None:
        """Use `weight` (V, D), e.g. an embedding matrix, as this head's matrix; a ValueError if it cannot."""
        raise ValueError(f"{type(self).__name__} cannot share its weights with an embedding")

    input_dim: int
    """D, the size of the hidden vectors read; each implementation's constructor sets it."""
    output_dim: int
    """V, the size of the output vocabulary; each implementation's constructor sets it."""

    def get_input_dim(self) -> int:
        return self.input_dim

    def get_output_dim(self) -> int:
        return self.output_dim

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError
