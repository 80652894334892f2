"""`TokenEmbedder`: the contract for embedding one indexer's ids."""
import torch

from lmlab.common.registrable import Registrable


class TokenEmbedder(torch.nn.Module, Registrable):
    """Maps the ids of one token indexer to one vector per token.

    Base class of the "token_embedder" registry; a `TextFieldEmbedder` holds one per indexer.

    Inputs
        ids: (B, T) long for single-id indexers, or (B, T, C) long for indexers with C ids per token
        (characters); 0 is padding.
    Outputs
        (B, T, D) float with D = `get_output_dim()`. Padded tokens get the padding vector (zeros for
        the implementations here).
    """

    def get_output_dim(self) -> int:
        """D, the size of each token's vector."""
        raise NotImplementedError
