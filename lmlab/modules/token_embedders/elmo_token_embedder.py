"""`elmo_token_embedder`: pretrained ELMo representations (bilm-tf files) as a token embedder."""
from typing import List, Optional

import torch

from lmlab.common.constraints import Probability
from lmlab.common.file_utils import cached_path
from lmlab.modules.elmo.bilm import ElmoBiLm
from lmlab.modules.elmo.elmo import Elmo
from lmlab.modules.token_embedders.token_embedder import TokenEmbedder


@TokenEmbedder.register("elmo_token_embedder")
class ElmoTokenEmbedder(TokenEmbedder):
    """One learned scalar mix of a pretrained ELMo biLM's layers per token, optionally projected.

    Registered as a `TokenEmbedder` with name "elmo_token_embedder"; it consumes the
    "elmo_characters" indexer's ids.

    Parameters
        options_file: str                bilm-tf `options.json`: a local path or an http(s) URL (downloaded
                                         once into the lmlab cache).
        weight_file: str                 bilm-tf hdf5 weights: a local path or URL.
        do_layer_norm: bool = False      layer-normalise each biLM layer inside the scalar mix.
        dropout: float = 0.5             on the ELMo representation (before the projection).
        requires_grad: bool = False      fine-tune the biLM too (the scalar mix is always trained).
        projection_dim: Optional[int] = None   D; a linear projection of the representation when given.
        vocab_to_cache: Optional[List[str]] = None   precompute the character CNN for these words;
                                         `forward` then also accepts word ids (see `Elmo`).
        scalar_mix_parameters: Optional[List[float]] = None   fixed pre-softmax layer weights (not trained),
                                         e.g. [-9e10, 1, -9e10] for the first LSTM layer only.
        stateful: bool = False           carry the biLM's LSTM states from batch to batch row by row, as
                                         AllenNLP did. Off by default, so that a sentence's vectors do not
                                         depend on what the previous batch held at the same row.
    Inputs
        elmo_tokens: (B, T, 50) int64 ELMo character ids (padding tokens all 0);
        word_inputs: optional (B, T) int64 ids into `vocab_to_cache`.
    Outputs
        (B, T, D) float, D = `projection_dim` or the biLM's 2P (1024 for the original ELMo); zeros at
        padding without a projection (the projection's bias otherwise).
    Notes
        Like `Embedding` with a `pretrained_file`, this constructor reads files: the pretrained biLM is the
        component. The weights are also saved with a model that uses it, but rebuilding the model from its
        archived config reads the two files again, so keep them reachable.
    """

    def __init__(self, options_file: str, weight_file: str, do_layer_norm: bool = False, dropout: Probability = 0.5,
                 requires_grad: bool = False, projection_dim: Optional[int] = None,
                 vocab_to_cache: Optional[List[str]] = None, scalar_mix_parameters: Optional[List[float]] = None,
                 stateful: bool = False) -> None:
        super().__init__()
        bilm = ElmoBiLm(cached_path(options_file), cached_path(weight_file), requires_grad=requires_grad,
                        vocab_to_cache=vocab_to_cache, stateful=stateful)
        self._elmo = Elmo(None, None, num_output_representations=1, do_layer_norm=do_layer_norm,
                          dropout=dropout, scalar_mix_parameters=scalar_mix_parameters, module=bilm)
        self.stateful = stateful
        self.projection = torch.nn.Linear(self._elmo.get_output_dim(), projection_dim) if projection_dim else None
        self._output_dim = projection_dim or self._elmo.get_output_dim()

    @property
    def elmo(self) -> Elmo:
        return self._elmo

    def get_output_dim(self) -> int:
        return self._output_dim

    def reset_states(self) -> None:
        """Forget the carried LSTM states (only matters with `stateful`)."""
        self._elmo.reset_states()

    def forward(self, elmo_tokens: torch.Tensor, word_inputs: Optional[torch.Tensor] = None) -> torch.Tensor:
        output = self._elmo(elmo_tokens, word_inputs)
        representation = output["elmo_representations"][0]  # (B, T, 2P), zeros at padding
        if self.projection is not None:
            representation = self.projection(representation)  # (B, T, D)
        return representation

    def extra_repr(self) -> str:
        return f"output_dim={self._output_dim}, stateful={self.stateful}"
