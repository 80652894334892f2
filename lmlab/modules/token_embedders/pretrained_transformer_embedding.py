"""`pretrained_transformer_embedding`: a pretrained model's input embedding table."""
from typing import Optional

import torch

from lmlab.modules.pretrained_transformers import load_model
from lmlab.modules.token_embedders.token_embedder import TokenEmbedder


@TokenEmbedder.register("pretrained_transformer_embedding")
class PretrainedTransformerEmbedding(TokenEmbedder):
    """Looks the ids of a "pretrained_transformer" indexer up in the model's own input embedding table
    (`get_input_embeddings()`), one token at a time: the text field embedder of a `language_model` whose
    contextualizer is the same model's "pretrained_transformer" encoder (it adds the positions).

    Registered as a `TokenEmbedder` with name "pretrained_transformer_embedding". Needs `lmlab[transformers]`.

    Parameters
        model_name: str             the model folder (or hub name).
        causal: bool = True         the table of the model loaded as a causal LM (else as `AutoModel`).
        train_parameters: bool = True   false freezes the table.
        load_weights: bool = True   false: random weights (archives set it; theirs come from the archive).
    Inputs
        token_ids: (B, T) long;  mask: (B, T) 0/1, True = token;  word_starts: the indexer's (B, T) flags,
        when it gives them (for the language model's word perplexity; not read here).
    Outputs
        (B, T, H) float; zeros where mask is False.
    Attributes
        weight: (V, H) Parameter, the table (`tie_embeddings` shares it with the output layer, as the
        pretrained model does).
    """

    def __init__(self, model_name: str, causal: bool = True, train_parameters: bool = True,
                 load_weights: bool = True) -> None:
        super().__init__()
        self.model_name = model_name
        self.embeddings = load_model(model_name, "causal_lm" if causal else "base", load_weights).get_input_embeddings()
        self.embeddings.weight.requires_grad_(train_parameters)

    @property
    def weight(self) -> torch.nn.Parameter:
        return self.embeddings.weight

    def get_output_dim(self) -> int:
        return int(self.embeddings.weight.shape[1])

    def forward(self, token_ids: torch.Tensor, mask: torch.Tensor,
                word_starts: Optional[torch.Tensor] = None) -> torch.Tensor:
        embedded = self.embeddings(token_ids)  # (B, T, H)
        return embedded * mask.unsqueeze(-1).to(embedded.dtype)

    def extra_repr(self) -> str:
        return f"model_name={self.model_name!r}"
