"""Your own ELMo: a trained bidirectional character-input `LanguageModel` used as an ELMo biLM.

`LanguageModelBiLm` gives such a model the biLM contract that `lmlab.modules.elmo.Elmo(module=...)`
expects, `elmo_from_archive` builds an `Elmo` straight from a `model.tar.gz`, and
`export_language_model` writes the model as bilm-tf `options.json` + hdf5 files that `ElmoBiLm` (and
the "elmo_token_embedder") read. This lives in the model layer because it unwraps a `LanguageModel`;
the module layer only ever sees its parts.

The model must embed the "elmo_characters" indexer's ids with an "elmo_character_encoder" (and use no
other embedder), have a bidirectional no-peeking contextualizer that can return all its layers, and have
been trained on sentences framed by "<S>" ... "</S>" (the reader's start and end tokens), because the
adapter frames every sentence that way, exactly as `ElmoBiLm` does.
"""
from typing import Any, Dict, List, Optional, Tuple

import torch

from lmlab.common.constraints import Probability
from lmlab.common.errors import ConfigurationError
from lmlab.models.language_model import LanguageModel
from lmlab.models.model import Model
from lmlab.modules.elmo import BiLm, Elmo
from lmlab.modules.elmo.character_encoder import add_sentence_boundaries
from lmlab.modules.elmo.character_ids import BOS_CHAR_IDS, EOS_CHAR_IDS, MAX_WORD_LENGTH
from lmlab.modules.elmo.export import PathLike, export_elmo
from lmlab.modules.seq2seq_encoders import ElmoLstmSeq2SeqEncoder, Seq2SeqEncoder
from lmlab.modules.text_field_embedders import BasicTextFieldEmbedder
from lmlab.modules.token_embedders import ElmoCharacterEncoderTokenEmbedder


def language_model_elmo_parts(model: Model) -> Tuple[str, ElmoCharacterEncoderTokenEmbedder, Seq2SeqEncoder]:
    """(indexer name, character encoder, contextualizer) of a character-input bidirectional LM.

    Raises a `ConfigurationError` naming what does not fit (the model type, the embedders, the
    contextualizer's direction or sizes).
    """
    # run time, every check here: they read a built model (one loaded from an archive)
    if not isinstance(model, LanguageModel):
        raise ConfigurationError(f'expected a "language_model", found {type(model).__name__}', "model")
    if not model.bidirectional:
        raise ConfigurationError("expected a bidirectional language model (ELMo needs both directions)",
                                 "model.bidirectional")
    text_field_embedder, contextualizer = model.text_field_embedder, model.contextualizer
    token_embedders = text_field_embedder.token_embedders \
        if isinstance(text_field_embedder, BasicTextFieldEmbedder) else torch.nn.ModuleDict()
    if len(token_embedders) != 1:
        found = ", ".join(token_embedders) or type(text_field_embedder).__name__
        raise ConfigurationError(f'expected exactly one token embedder, an "elmo_character_encoder"; found {found}',
                                 "model.text_field_embedder.token_embedders")
    (name, embedder), = token_embedders.items()
    if not isinstance(embedder, ElmoCharacterEncoderTokenEmbedder):
        raise ConfigurationError(f'expected an "elmo_character_encoder", found {type(embedder).__name__}',
                                 f"model.text_field_embedder.token_embedders.{name}")
    if contextualizer.return_all_layers is None:
        raise ConfigurationError(f"{type(contextualizer).__name__} cannot return all its layers",
                                 "model.contextualizer")
    if contextualizer.get_output_dim() != 2 * embedder.get_output_dim():
        raise ConfigurationError(
            f"ELMo mixes the token vectors (duplicated to 2 x {embedder.get_output_dim()}) with the contextual "
            f"layers, so they must have the same size; found contextualizer output {contextualizer.get_output_dim()}",
            "model.contextualizer")
    return name, embedder, contextualizer


class LanguageModelBiLm(BiLm):
    """A trained bidirectional character-input `LanguageModel` with the ELMo biLM contract.

    Not registered: pass it to `Elmo(None, None, R, module=LanguageModelBiLm(model))`.

    Parameters
        language_model: Model           a `LanguageModel` as the module docstring describes (else a
                                        `ConfigurationError`); its character encoder and contextualizer
                                        are shared (not copied), its softmax is not used.
        requires_grad: bool = False     sets `requires_grad` of the shared parameters (fine-tuning).
    Inputs
        inputs: (B, T, 50) int64 ELMo character ids (`batch_to_ids`), without "<S>"/"</S>";
        word_inputs: must be None (there is no word cache).
    Outputs
        {"activations": L + 1 tensors (B, T + 2, 2P): the token vectors duplicated, then each
         contextualizer layer (forward | backward); zeros at padding;
         "mask": (B, T + 2) bool, True at "<S>", the tokens and "</S>"}, as `ElmoBiLm`.
    Attributes
        num_layers: L + 1, the number of tensors in "activations".
    Notes
        The character ids of "<S>"/"</S>" are inserted around each row and go through the model's own
        embedder, which is what the model saw in training (its reader added those tokens). The
        contextualizer is stateless here even if the model carried state in training.
    """

    _boundary_char_ids: torch.Tensor  # (2, 50): the character ids of "<S>" and "</S>"

    def __init__(self, language_model: Model, requires_grad: bool = False) -> None:
        super().__init__()
        self._indexer_name, self._character_encoder, contextualizer = language_model_elmo_parts(language_model)
        self._contextualizer = contextualizer
        self.num_layers = contextualizer.num_layers + 1
        for parameter in self.parameters():
            parameter.requires_grad_(requires_grad)
        self.register_buffer("_boundary_char_ids", torch.tensor([BOS_CHAR_IDS, EOS_CHAR_IDS]), persistent=False)

    def get_output_dim(self) -> int:
        return self._contextualizer.get_output_dim()

    def reset_states(self) -> None:
        """Forget the contextualizer's carried state (if the model carries one)."""
        self._contextualizer.reset_states()

    def forward(self, inputs: torch.Tensor, word_inputs: Optional[torch.Tensor] = None) -> Dict[str, Any]:
        if word_inputs is not None:
            raise ValueError("LanguageModelBiLm has no word cache: pass character ids only")
        if inputs.dim() != 3 or inputs.size(-1) != MAX_WORD_LENGTH:
            raise ValueError(f"expected character ids of shape (B, T, {MAX_WORD_LENGTH}), found {tuple(inputs.shape)}")
        token_mask = (inputs > 0).any(dim=-1)  # (B, T)
        bos, eos = self._boundary_char_ids.to(inputs.dtype)  # (50,) each
        char_ids, mask = add_sentence_boundaries(inputs, token_mask, bos, eos)  # (B, T + 2, 50), (B, T + 2)
        embedded = self._character_encoder(char_ids)  # (B, T + 2, P)
        layers = self._all_layers(embedded, mask)  # (L, B, T + 2, 2P)
        type_layer = torch.cat([embedded, embedded], dim=-1) * mask.unsqueeze(-1).to(embedded.dtype)  # (B, T + 2, 2P)
        return {"activations": [type_layer, *layers.unbind(0)], "mask": mask}

    def _all_layers(self, embedded: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        contextualizer = self._contextualizer
        # The contextualizer decides at call time whether to return every layer; switch it on for this
        # call only, so that the language model itself keeps behaving as configured.
        previous = contextualizer.return_all_layers
        contextualizer.return_all_layers = True
        try:
            layers = contextualizer(embedded, mask)  # (L, B, T + 2, 2P)
        finally:
            contextualizer.return_all_layers = previous
        return layers if layers.dim() == 4 else layers.unsqueeze(0)

    def extra_repr(self) -> str:
        return f"num_layers={self.num_layers}, indexer={self._indexer_name!r}"


def elmo_from_archive(archive_file: str, num_output_representations: int = 1, requires_grad: bool = False,
                      do_layer_norm: bool = False, dropout: Probability = 0.5, keep_sentence_boundaries: bool = False,
                      scalar_mix_parameters: Optional[List[float]] = None, cuda_device: int = -1) -> Elmo:
    """`Elmo` over the bidirectional character LM of an lmlab `model.tar.gz` (path or URL)."""
    from lmlab.models.language_model_archive import load_language_model

    model = load_language_model(archive_file, "archive_file", cuda_device=cuda_device)
    bilm = LanguageModelBiLm(model, requires_grad=requires_grad)
    return Elmo(None, None, num_output_representations, do_layer_norm=do_layer_norm, dropout=dropout,
                keep_sentence_boundaries=keep_sentence_boundaries, scalar_mix_parameters=scalar_mix_parameters,
                module=bilm).to(model.device())


def export_language_model(model: Model, options_file: PathLike, weight_file: PathLike) -> None:
    """Write a trained character-input bidirectional LM with an "elmo_lstm" contextualizer as bilm-tf files."""
    _, embedder, contextualizer = language_model_elmo_parts(model)
    if not isinstance(contextualizer, ElmoLstmSeq2SeqEncoder):  # run time: a built model
        raise ConfigurationError(f"cannot export {type(contextualizer).__name__} as ELMo LSTMs: expected an "
                                 '"elmo_lstm" contextualizer; other encoders have no bilm-tf weight layout',
                                 "model.contextualizer")
    export_elmo(embedder.character_encoder, contextualizer.lstm, options_file, weight_file)
