"""`TokenEmbedder`: the contract for embedding one indexer's ids."""
from typing import Any, Dict, Optional

import torch

from lmlab.common.errors import ConfigurationError
from lmlab.common.registrable import Registrable
from lmlab.data.vocabulary import Vocabulary


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

    @classmethod
    def output_dim_from_config(cls, config: Dict[str, Any]) -> Optional[int]:
        """D as a filled config of this class gives it, without building anything (for `lmlab check`);
        None when only the built object knows (the default)."""
        return None

    def get_output_dim(self) -> int:
        """D, the size of each token's vector."""
        raise NotImplementedError


def table_size(num_embeddings: Optional[int], vocab: Optional[Vocabulary], namespace: str) -> int:
    """Rows of an embedding table: `num_embeddings` when given, else the size of `namespace` in the injected
    `vocab`; a config error at "num_embeddings" when neither is known."""
    if num_embeddings is not None:
        return num_embeddings
    if vocab is None:  # run time: `vocab` is given by the caller (lmlab injects it into configured embedders)
        raise ConfigurationError("set num_embeddings, or build the embedder with a vocabulary", "num_embeddings")
    return vocab.get_vocab_size(namespace)
