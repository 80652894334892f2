"""`elmo_character_encoder`: ELMo's character CNN + highway + projection as a trainable token embedder."""
from typing import Annotated, Any, Dict, List, Literal, Optional, Tuple

import torch

from lmlab.common.constraints import Length, NonNegativeInt, PositiveInt, Range
from lmlab.modules.elmo.character_encoder import ElmoCharacterEncoder
from lmlab.modules.elmo.character_ids import MAX_WORD_LENGTH
from lmlab.modules.token_embedders.token_embedder import TokenEmbedder

FilterWidth = Annotated[int, Range(1, MAX_WORD_LENGTH)]
"""A convolution width: at least 1 and at most the 50 characters ELMo keeps of a word."""


@TokenEmbedder.register("elmo_character_encoder")
class ElmoCharacterEncoderTokenEmbedder(TokenEmbedder):
    """A context-independent token vector from the 50 ELMo character ids of each token, randomly initialised.

    Registered as a `TokenEmbedder` with name "elmo_character_encoder". The input side of a
    character-level language model trained from scratch (bilm-tf's architecture); it consumes the
    "elmo_characters" indexer's ids.

    Parameters
        filters: List[Tuple[int, int]]   `[[width, count], ...]`, one convolution bank each;
                                         F = sum of the counts (ELMo: [[1, 32], [2, 32], [3, 64],
                                         [4, 128], [5, 256], [6, 512], [7, 1024]]).
        embedding_dim: int = 16          E, size of a character vector.
        num_highway: int = 2             highway layers on the F CNN features.
        projection_dim: int = 512        P, size of the output token vector.
        activation: str = "relu"         after max-pooling each bank: "relu" or "tanh".
    Inputs
        ids: (B, T, 50) int64 ELMo character ids; a padding token is all 0.
    Outputs
        (B, T, P) float; zeros for padding tokens.
    Notes
        The arithmetic and parameter layout are those of `lmlab.modules.elmo.ElmoCharacterEncoder`
        (which this wraps), so a trained embedder exports to the bilm-tf weight file unchanged
        (`lmlab.modules.elmo.export`). Unlike `ElmoBiLm`, no `<S>`/`</S>` is added here: the language
        model works on the tokens it is given, and its reader adds "<S>"/"</S>" tokens, which the
        indexer encodes as the boundary characters; so an exported model inserts exactly the same vectors.
    """

    def __init__(self, filters: Annotated[List[Tuple[FilterWidth, PositiveInt]], Length(1)],
                 embedding_dim: PositiveInt = 16, num_highway: NonNegativeInt = 2,
                 projection_dim: PositiveInt = 512, activation: Literal["relu", "tanh"] = "relu") -> None:
        super().__init__()
        self.character_encoder = ElmoCharacterEncoder(
            embedding_dim=embedding_dim, filters=[[int(width), int(count)] for width, count in filters],
            num_highway=num_highway, output_dim=projection_dim, activation=activation)

    def reset_parameters(self) -> None:
        self.character_encoder.reset_parameters()

    @classmethod
    def output_dim_from_config(cls, config: Dict[str, Any]) -> Optional[int]:
        return config["projection_dim"]

    def get_output_dim(self) -> int:
        return self.character_encoder.get_output_dim()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if ids.dim() != 3 or ids.size(-1) != MAX_WORD_LENGTH:
            raise ValueError(f"expected ELMo character ids of shape (B, T, {MAX_WORD_LENGTH}), "
                             f"found {tuple(ids.shape)}")
        is_token = (ids > 0).any(dim=-1)  # (B, T)
        return self.character_encoder.encode_tokens(ids, is_token)[0]  # (B, T, P): padding never encoded
