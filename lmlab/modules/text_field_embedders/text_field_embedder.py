"""`TextFieldEmbedder`: the contract for embedding a whole batched text field."""
from typing import Any, Dict, Optional

import torch

from lmlab.common.errors import ConfigurationError
from lmlab.common.registrable import Registrable
from lmlab.modules.token_embedders.token_embedder import TokenEmbedder


class TextFieldEmbedder(torch.nn.Module, Registrable):
    """Maps a batched text field (every indexer's tensors) to one vector per token.

    Base class of the "text_field_embedder" registry; default implementation "basic".

    Inputs
        text_field_input: `{indexer_name: {key: LongTensor}}`, e.g. `{"tokens": {"tokens": (B, T)}}`
        or `{"token_characters": {"token_characters": (B, T, C)}}`; id 0 is padding.
    Outputs
        (B, T, D) float with D = `get_output_dim()`.
    """

    default_implementation = "basic"

    @classmethod
    def output_dim_from_config(cls, config: Dict[str, Any]) -> Optional[int]:
        """D as a filled config of this class gives it, without building anything (for `lmlab check`);
        None when only the built object knows (the default)."""
        return None

    def get_output_dim(self) -> int:
        """D, the size of each token's vector."""
        raise NotImplementedError

    def token_embedder(self, name: str) -> TokenEmbedder:
        """The `TokenEmbedder` of indexer `name` (e.g. to tie a softmax to its weight matrix)."""
        # run time: the name a model asks for (e.g. to tie weights)
        raise ConfigurationError(f'{type(self).__name__} has no token embedder "{name}"', "token_embedders")

    def forward(self, text_field_input: Dict[str, Dict[str, torch.Tensor]]) -> torch.Tensor:
        raise NotImplementedError
