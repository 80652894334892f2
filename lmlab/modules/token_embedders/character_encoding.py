"""`character_encoding`: a word vector from its characters with a character CNN (Kim et al., 2016)."""
from typing import Annotated, Any, Dict, Optional, Tuple

import torch

from lmlab.common.constraints import Length, NonNegativeInt, PositiveInt, Probability
from lmlab.data.vocabulary import Vocabulary
from lmlab.modules.highway import Activation, Highway, activation_function
from lmlab.modules.token_embedders.embedding import xavier_uniform_rows_
from lmlab.modules.token_embedders.token_embedder import TokenEmbedder, table_size


@TokenEmbedder.register("character_encoding")
class TokenCharactersEncoder(TokenEmbedder):
    """Embeds each character, convolves with several filter widths, max-pools over the word.

    Registered as a `TokenEmbedder` with name "character_encoding".

    Parameters
        embedding_dim: int                     E, size of a character vector.
        num_filters: int                       F, filters per width.
        ngram_filter_sizes: Tuple[int, ...] = (2, 3, 4, 5)   filter widths (characters).
        num_embeddings: Optional[int] = None   character vocabulary size; default: the size of
                                               `vocab_namespace` in the injected `vocab`.
        vocab_namespace: str = "token_characters"
        conv_activation: Activation = "relu"   applied to the convolutions: "relu", "tanh", "gelu",
                                               "sigmoid" or "linear".
        output_dim: Optional[int] = None       D; a linear projection from F * len(widths) when given.
        highway_layers: int = 0                highway layers before the projection.
        dropout: float = 0.0                   on the output.
        vocab: Optional[Vocabulary] = None     injected by lmlab.
    Inputs
        ids: (B, T, C) long character ids, 0 is padding (each word's characters first, then padding).
    Outputs
        (B, T, D) float, D = `output_dim` or F * len(ngram_filter_sizes); zeros for padded words (no
        non-zero character id).
    Notes
        All B*T words are convolved at once (one Conv1d per width). A window of width w is pooled only
        if it lies inside the word, so a padded character never wins the max; a word shorter than w
        (or C < w, in which case the batch is padded to w) keeps its first window, padded with zero
        vectors, so every width produces a value.
    """

    def __init__(self, embedding_dim: PositiveInt, num_filters: PositiveInt,
                 ngram_filter_sizes: Annotated[Tuple[PositiveInt, ...], Length(1)] = (2, 3, 4, 5),
                 num_embeddings: Optional[PositiveInt] = None, vocab_namespace: str = "token_characters",
                 conv_activation: Activation = "relu", output_dim: Optional[PositiveInt] = None,
                 highway_layers: NonNegativeInt = 0, dropout: Probability = 0.0,
                 vocab: Optional[Vocabulary] = None) -> None:
        super().__init__()
        num_embeddings = table_size(num_embeddings, vocab, vocab_namespace)
        self._activation = activation_function(conv_activation)
        self.embedding_dim = embedding_dim
        self.num_filters = num_filters
        self.ngram_filter_sizes = list(ngram_filter_sizes)
        self.num_embeddings = num_embeddings
        self.conv_activation = conv_activation
        self.char_embedding = torch.nn.Embedding(num_embeddings, embedding_dim, padding_idx=0)
        xavier_uniform_rows_(self.char_embedding.weight, 0)  # AllenNLP's character vectors (see `Embedding`)
        self.convolutions = torch.nn.ModuleList(
            torch.nn.Conv1d(embedding_dim, num_filters, kernel_size=width) for width in self.ngram_filter_sizes)
        pooled_dim = num_filters * len(self.ngram_filter_sizes)
        self.highway = Highway(pooled_dim, highway_layers) if highway_layers > 0 else None
        self.projection = torch.nn.Linear(pooled_dim, output_dim) if output_dim is not None else None
        self.dropout = torch.nn.Dropout(dropout) if dropout > 0 else None
        self._output_dim = output_dim if output_dim is not None else pooled_dim

    @classmethod
    def output_dim_from_config(cls, config: Dict[str, Any]) -> Optional[int]:
        return config["output_dim"] or config["num_filters"] * len(config["ngram_filter_sizes"])

    def get_output_dim(self) -> int:
        return self._output_dim

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        batch_size, timesteps, num_chars = ids.shape
        max_width = max(self.ngram_filter_sizes)
        if num_chars < max_width:  # the widest filter needs at least max_width positions
            ids = torch.nn.functional.pad(ids, (0, max_width - num_chars))  # (B, T, C')
            num_chars = max_width
        words = ids.reshape(batch_size * timesteps, num_chars)  # (N, C), N = B*T
        char_mask = words != 0  # (N, C)
        word_lengths = char_mask.sum(dim=1, keepdim=True)  # (N, 1)
        embedded = self.char_embedding(words).transpose(1, 2)  # (N, E, C)

        pooled = []
        for width, convolution in zip(self.ngram_filter_sizes, self.convolutions, strict=False):
            features = self._activation(convolution(embedded))  # (N, F, C - w + 1)
            starts = torch.arange(num_chars - width + 1, device=ids.device).unsqueeze(0)  # (1, C - w + 1)
            # a window is pooled when it lies inside the word; the first window always is
            valid = (starts + width <= word_lengths) | (starts == 0)  # (N, C - w + 1)
            features = features.masked_fill(~valid.unsqueeze(1), float("-inf"))
            pooled.append(features.max(dim=2).values)  # (N, F)
        encoded = torch.cat(pooled, dim=1)  # (N, F * len(widths))
        if self.highway is not None:
            encoded = self.highway(encoded)
        if self.projection is not None:
            encoded = self.projection(encoded)  # (N, D)
        if self.dropout is not None:
            encoded = self.dropout(encoded)
        word_mask = (word_lengths > 0).to(encoded.dtype)  # (N, 1)
        return (encoded * word_mask).view(batch_size, timesteps, -1)  # (B, T, D)

    def extra_repr(self) -> str:
        return (f"num_embeddings={self.num_embeddings}, embedding_dim={self.embedding_dim}, "
                f"num_filters={self.num_filters}, ngram_filter_sizes={self.ngram_filter_sizes}, "
                f"conv_activation={self.conv_activation!r}, output_dim={self._output_dim}")
