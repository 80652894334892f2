"""`pretrained_transformer_mismatched`: one vector per word, pooled from a pretrained transformer's pieces."""
from typing import Literal, Optional

import torch
from overrides import overrides

from lmlab.common.constraints import PositiveInt
from lmlab.modules.token_embedders.pretrained_transformer import PretrainedTransformerEmbedder
from lmlab.modules.token_embedders.token_embedder import TokenEmbedder

Pooling = Literal["first", "mean", "last"]
"""How a word's vector is made from its pieces' vectors."""


@TokenEmbedder.register("pretrained_transformer_mismatched")
class PretrainedTransformerMismatchedEmbedder(TokenEmbedder):
    """Embeds the pieces of a "pretrained_transformer_mismatched" indexer with a "pretrained_transformer"
    embedder and pools each word's pieces into one vector.

    Registered as a `TokenEmbedder` with name "pretrained_transformer_mismatched". Needs `lmlab[transformers]`.

    Parameters
        model_name, last_layer_only, train_parameters, max_length, load_weights: as "pretrained_transformer".
        pooling: Pooling = "first"   a word's vector: its "first" piece's, the "mean" of its pieces', or its
                                 "last" piece's.
    Inputs
        token_ids: (B, P) long;  wordpiece_mask: (B, P) 0/1;  mask: (B, W) 0/1, True = word;
        offsets: (B, W, 2) long, each word's first and last piece (inclusive), -1 for a word without pieces.
    Outputs
        (B, W, H) float; zeros for padding and for words without pieces.
    """

    def __init__(self, model_name: str, pooling: Pooling = "first", last_layer_only: bool = True,
                 train_parameters: bool = True, max_length: Optional[PositiveInt] = None,
                 load_weights: bool = True) -> None:
        super().__init__()
        self.pooling = pooling
        self.matched_embedder = PretrainedTransformerEmbedder(model_name, last_layer_only=last_layer_only,
                                                              train_parameters=train_parameters,
                                                              max_length=max_length, load_weights=load_weights)

    @overrides
    def get_output_dim(self) -> int:
        return self.matched_embedder.get_output_dim()

    def forward(self, token_ids: torch.Tensor, mask: torch.Tensor, offsets: torch.Tensor,
                wordpiece_mask: torch.Tensor) -> torch.Tensor:
        pieces = self.matched_embedder(token_ids, wordpiece_mask)  # (B, P, H)
        starts, ends = offsets[..., 0], offsets[..., 1]  # (B, W) each
        real = mask.bool() & (starts >= 0)  # (B, W)
        if self.pooling == "mean":
            position = torch.arange(pieces.shape[1], device=pieces.device)  # (P,)
            span = (position >= starts.unsqueeze(-1)) & (position <= ends.unsqueeze(-1))  # (B, W, P)
            span = (span & real.unsqueeze(-1)).to(pieces.dtype)
            pooled = span.bmm(pieces) / span.sum(dim=-1, keepdim=True).clamp(min=1)  # (B, W, H)
        else:
            chosen = (starts if self.pooling == "first" else ends).clamp(min=0)  # (B, W)
            pooled = pieces.gather(1, chosen.unsqueeze(-1).expand(-1, -1, pieces.shape[-1]))  # (B, W, H)
        return pooled * real.unsqueeze(-1).to(pooled.dtype)

    def extra_repr(self) -> str:
        return f"pooling={self.pooling!r}"
