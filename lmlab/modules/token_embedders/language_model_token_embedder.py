"""Contextual token features from frozen, trained language models (LD-Net, ELMo), given their parts.

`LanguageModelTokenEmbedder` takes the parts of loaded language models (`FrozenLanguageModel`s), never
paths: opening an lmlab archive is the model layer's job. The registered "language_model_token_embedder"
(`lmlab.models.language_model_archive`) opens the archives named in a config and passes their parts here.
"""
import logging
from typing import Any, Dict, Iterator, List, Literal, Optional, cast

import torch

from lmlab.common.constraints import NonNegativeInt, PositiveInt, Probability
from lmlab.common.errors import ArchiveError, ConfigurationError
from lmlab.data.vocabulary import Vocabulary
from lmlab.modules.scalar_mix import ScalarMix
from lmlab.modules.seq2seq_encoders.dense_rnn import DenseRnn
from lmlab.modules.seq2seq_encoders.rnn_stack import RnnStack
from lmlab.modules.seq2seq_encoders.seq2seq_encoder import Seq2SeqEncoder
from lmlab.modules.token_embedders.token_embedder import TokenEmbedder
from lmlab.modules.util import reverse_padded_rows, sequence_lengths, zero_padding

logger = logging.getLogger(__name__)


class FrozenLanguageModel(torch.nn.Module):
    """The input side of a trained language model (its word embedding and contextualizer), run on tagger ids.

    Not registered: the part of `LanguageModelTokenEmbedder` that holds one language model.

    Parameters
        text_field_embedder: torch.nn.Module   the LM's `TextFieldEmbedder` (typed as a Module: text field
                                       embedders sit above token embedders), with a single-id embedder
                                       under `indexer`; called as `text_field_embedder({indexer: {"tokens": ids}})`.
        indexer: str                   the indexer name the LM's embedder reads.
        contextualizer: Seq2SeqEncoder the LM's (unidirectional, not carrying state).
        id_map: (V_tagger,) long       tagger id -> LM id (padding -> 0, unknown words -> the LM's OOV id).
        reverse: bool                  a backward LM: a forward LM trained on reversed text.
        context_id: Optional[int]      an LM id read before each row (in the LM's reading direction), its
                                       output dropped; None reads the row from the zero state.
    Inputs
        ids: (B, T) long tagger ids;  mask: (B, T) bool, True = token, padding only at the end of a row.
    Outputs
        The contextualizer's output for every token, (B, T, D), or (L, B, T, H) when it returns all layers;
        for a backward LM the value at t depends on the tokens t, t + 1, ... of the row.
    """

    id_map: torch.Tensor

    def __init__(self, text_field_embedder: torch.nn.Module, indexer: str, contextualizer: Seq2SeqEncoder,
                 id_map: torch.Tensor, reverse: bool, context_id: Optional[int] = None) -> None:
        super().__init__()
        self.text_field_embedder = text_field_embedder
        self.indexer = indexer
        self.contextualizer = contextualizer
        self.reverse = reverse
        self.context_id = context_id
        self.register_buffer("id_map", id_map, persistent=False)  # derived from the two vocabularies
        self.train(False)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        lengths = sequence_lengths(mask)
        lm_ids = self.id_map[ids]  # (B, T)
        if self.reverse:
            lm_ids = reverse_padded_rows(lm_ids, lengths)  # each row read from its last token back
        if self.context_id is not None:  # one more step in front of every row, dropped from the output
            lm_ids = torch.cat([lm_ids.new_full((lm_ids.shape[0], 1), self.context_id), lm_ids], dim=1)
            mask = torch.cat([mask.new_ones(mask.shape[0], 1), mask], dim=1)
        embedded = self.text_field_embedder({self.indexer: {"tokens": lm_ids}})  # (B, T (+ 1), E)
        output = self.contextualizer(embedded, mask)  # (B, T (+ 1), D) or (L, B, T (+ 1), H)
        if self.context_id is not None:
            output = output[..., 1:, :]
        if not self.reverse:
            return output
        if output.dim() == 3:
            return reverse_padded_rows(output, lengths)
        return reverse_padded_rows(output.permute(1, 2, 0, 3), lengths).permute(2, 0, 1, 3)  # (L, B, T, H)

    def train(self, mode: bool = True) -> "FrozenLanguageModel":
        # frozen means the trained computation: no dropout or layer dropout inside the LM, ever
        return super().train(False)


class LanguageModelTokenEmbedder(TokenEmbedder):
    """Contextual token vectors from one or two frozen language models (forward + backward), given as parts.

    Not registered itself: the registered "language_model_token_embedder" (in the model layer, which opens
    lmlab archives) builds it from archive paths; its docstring describes the config.

    Parameters
        language_models: List[FrozenLanguageModel]   one or two (forward, then backward), frozen here.
        mode: "concat" | "scalar_mix" = "concat"
                                          concat: the LMs' contextualizer outputs side by side, for a
                                          "dense_rnn"/"ld_rnn" [embedding, layer_1, ..., layer_L] (LD-Net);
                                          scalar_mix: per LM a learned `ScalarMix` of its contextualizer's
                                          layers (ELMo): contextualizers that are `RnnStack`s returning all
                                          their layers.
        projection_dim: Optional[int] = None   P: ReLU(Linear(D -> P)) of the features (LD-Net's `lm_seq`).
        dropout: float = 0.0              on the features, before the projection.
        do_layer_norm: bool = False       scalar_mix: normalise each layer inside the mix.
        feature_cache_mb: int = 0         keep each sentence's LM outputs (float32, as computed, the
                                          contextualizers' full widths) in up to this many MiB, and reuse them
                                          whenever the same sentence comes again (every epoch, every
                                          validation) instead of running the LMs; 0: no cache. Only while no
                                          gate trains (the LMs are then a fixed function of the sentence; see
                                          Notes). Size it to the data: LD-Net's two 6-layer LMs (2 x 968
                                          columns) take 7.6 KiB per token, 1.4 GiB for CoNLL-2000's training
                                          set; a batch with a sentence not in the cache runs the LMs whole.
    Inputs
        ids: (B, T) long ids of the tagger's vocabulary namespace (what the LMs' `id_map`s read); 0 is padding.
    Outputs
        (B, T, D), zeros at padding. D = P with a projection; else concat: the sum of the contextualizers'
        output sizes, scalar_mix: the sum of their layer sizes H.
    Notes
        Frozen: the LMs' weights never train and they always run as in evaluation (no dropout, no layer
        dropout); without trainable gates they run without autograd.
        Feature cache: exact, since a frozen LM in evaluation mode computes the same outputs for a sentence
        every time (up to the floating-point effects of the batch it is computed in: the cache keeps the
        first). A batch whose sentences are all cached costs a lookup (one host-device sync for the ids) and
        a copy; otherwise the LMs run on the whole batch, as without the cache, and its new sentences are
        stored. Training the gates bypasses the cache; `prune()` and `set_gates_trainable` empty it.
        Layer selection: `set_gates_trainable(True)` makes the gates of every dense LM layer trainable;
        `prune()` deletes the layers whose gate is 0 and the matching input columns of the projection. The
        layers kept are part of this module's state (`get_extra_state`), so a pruned model's weights
        rebuild the pruned structure from the same config.
    """

    def __init__(self, language_models: List[FrozenLanguageModel], mode: Literal["concat", "scalar_mix"] = "concat",
                 projection_dim: Optional[PositiveInt] = None, dropout: Probability = 0.0,
                 do_layer_norm: bool = False, feature_cache_mb: NonNegativeInt = 0) -> None:
        super().__init__()
        self.feature_cache = FeatureCache(feature_cache_mb * 2 ** 20) if feature_cache_mb else None
        self.mode = mode
        self.language_models = torch.nn.ModuleList(language_models)
        for parameter in self.language_models.parameters():
            parameter.requires_grad_(False)
        self.mixes = torch.nn.ModuleList(
            ScalarMix(language_model.contextualizer.num_layers, do_layer_norm=do_layer_norm)
            for language_model in self._language_models()) if mode == "scalar_mix" else None
        self.dropout = torch.nn.Dropout(dropout)
        self.projection = torch.nn.Linear(self._feature_dim(), projection_dim) if projection_dim else None
        # per LM, the (original) indices of the layers still there; None for LMs that cannot be pruned
        self._kept_layers: List[Optional[List[int]]] = [
            list(range(language_model.contextualizer.num_layers))
            if isinstance(language_model.contextualizer, DenseRnn) else None
            for language_model in self._language_models()]

    def _language_models(self) -> List[FrozenLanguageModel]:
        return [cast(FrozenLanguageModel, language_model) for language_model in self.language_models]

    def _feature_dim(self) -> int:
        if self.mode == "scalar_mix":  # the contextualizers are RnnStacks (checked on loading)
            return sum(cast(RnnStack, lm.contextualizer).hidden_size for lm in self._language_models())
        return sum(language_model.contextualizer.get_output_dim() for language_model in self._language_models())

    def get_output_dim(self) -> int:
        return self.projection.out_features if self.projection is not None else self._feature_dim()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = ids != 0  # (B, T)
        trains_gates = any(parameter.requires_grad for parameter in self.language_models.parameters())
        if self.feature_cache is not None and not trains_gates:
            outputs = self.feature_cache.outputs(self.language_models, ids, mask)
        else:
            with torch.set_grad_enabled(torch.is_grad_enabled() and trains_gates):
                outputs = [language_model(ids, mask) for language_model in self.language_models]
        if self.mixes is not None:
            outputs = [mix(list(layers.unbind(0)), mask) for mix, layers in zip(self.mixes, outputs, strict=True)]
        features = self.dropout(torch.cat(outputs, dim=-1))  # (B, T, D)
        if self.projection is not None:
            features = torch.relu(self.projection(features))  # (B, T, P)
        return zero_padding(features, mask)

    # --- layer selection and pruning -------------------------------------------------------------
    @classmethod
    def check_arguments(cls, arguments: Dict[str, Any]) -> Iterator[ConfigurationError]:
        if arguments.get("do_layer_norm") and arguments.get("mode", "concat") != "scalar_mix":
            yield ConfigurationError('only a scalar mix normalises layers: set mode "scalar_mix"', "do_layer_norm")

    def _check_prunable(self) -> None:
        # run time, here and below: asked when a model selects layers, of the language models loaded
        if self.mode != "concat" or self.projection is None:
            raise ConfigurationError('layer selection needs mode "concat" and a projection_dim (the projection\'s '
                                     "input columns are what pruning removes)", "projection_dim")
        if not all(isinstance(lm.contextualizer, DenseRnn) for lm in self._language_models()):
            raise ConfigurationError('layer selection needs language models with a "dense_rnn" or "ld_rnn" '
                                     "contextualizer", "forward_archive")

    def set_gates_trainable(self, flag: bool) -> None:
        """Make every LM layer's gate a trainable parameter (flag True) or a fixed buffer again."""
        self._check_prunable()
        for encoder in self._dense_encoders():
            encoder.set_gates_trainable(flag)
        if self.feature_cache is not None:
            self.feature_cache.clear()

    def gates(self) -> torch.Tensor:
        """(N,) the gates of every LM layer, forward LM first (differentiable when trainable)."""
        return torch.cat([encoder.gates for encoder in self._dense_encoders()])

    def kept_layers(self) -> List[Optional[List[int]]]:
        """Per LM, the original indices of its layers still present (None: not a prunable LM)."""
        return [None if kept is None else list(kept) for kept in self._kept_layers]

    def prune(self) -> None:
        """Delete every LM layer whose gate is 0; the output is unchanged (exactly, for those gates)."""
        self._check_prunable()
        for index, encoder in enumerate(self._dense_encoders()):  # every LM is dense: checked above
            keep = [layer for layer, gate in enumerate(encoder.gates.tolist()) if gate != 0]
            self._prune_language_model(index, keep)

    def _prune_language_model(self, index: int, keep: List[int]) -> None:
        """Keep the layers at positions `keep` (of those present) of LM `index`; slice the projection."""
        language_models = self._language_models()
        contextualizer = language_models[index].contextualizer
        assert isinstance(contextualizer, DenseRnn) and self.projection is not None  # _check_prunable passed
        if len(keep) == contextualizer.num_layers:
            return
        offset = sum(lm.contextualizer.get_output_dim() for lm in language_models[:index])
        width = contextualizer.get_output_dim()
        columns = contextualizer.prune_layers(keep).to(self.projection.weight.device)  # into the old (width,)
        total = self.projection.in_features
        device = columns.device
        selected = torch.cat([torch.arange(offset, device=device), offset + columns,
                              torch.arange(offset + width, total, device=device)])  # (new D,)
        old = self.projection
        self.projection = torch.nn.Linear(len(selected), old.out_features).to(device=old.weight.device,
                                                                              dtype=old.weight.dtype)
        with torch.no_grad():
            self.projection.weight.copy_(old.weight[:, selected])
            self.projection.bias.copy_(old.bias)
        kept = self._kept_layers[index]
        self._kept_layers[index] = [kept[position] for position in keep] if kept is not None else None
        if self.feature_cache is not None:  # the LM computes something else now
            self.feature_cache.clear()

    def _dense_encoders(self) -> List[DenseRnn]:
        return [lm.contextualizer for lm in self._language_models() if isinstance(lm.contextualizer, DenseRnn)]

    def get_extra_state(self) -> Any:
        return {"kept_layers": self.kept_layers()}

    def set_extra_state(self, state: Any) -> None:
        # Called by load_state_dict before the LMs' own weights are loaded: prune first, so that the
        # weights of a pruned model fit.
        for index, (current, wanted) in enumerate(zip(self._kept_layers, state["kept_layers"], strict=True)):
            if current == wanted:
                continue
            if current is None or wanted is None or not set(wanted) <= set(current):
                raise ArchiveError(f"cannot restore layers {wanted} of language model {index} from layers {current}")
            self._prune_language_model(index, [current.index(layer) for layer in wanted])

    def extra_repr(self) -> str:
        cache = "" if self.feature_cache is None else f", feature_cache_mb={self.feature_cache.max_bytes // 2 ** 20}"
        return f"mode={self.mode!r}, kept_layers={self._kept_layers}, output_dim={self.get_output_dim()}{cache}"


class FeatureCache:
    """Per sentence (the bytes of its tagger ids), the outputs of frozen language models, up to `max_bytes`.

    Not registered: the cache of a `LanguageModelTokenEmbedder` (`feature_cache_mb`), not part of its state.

    Parameters
        max_bytes: int     the most the stored tensors may take; once full, new sentences are not stored.
    Inputs (`outputs`)
        language_models: the frozen LMs; ids: (B, T) long; mask: (B, T) bool, padding only at row ends.
    Outputs (`outputs`)
        Per LM its output for the batch, (B, T, D) or (L, B, T, H): the stored rows with zeros at padding
        when every sentence is stored, else the LMs' own outputs for the whole batch (and its new rows are
        stored, as copies outside inference mode, so that training can read them later).
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.used = 0
        self.rows: Dict[bytes, List[torch.Tensor]] = {}  # sentence -> per LM (T_b, D) or (L, T_b, H)
        self.full = False

    def clear(self) -> None:
        self.rows, self.used, self.full = {}, 0, False

    def outputs(self, language_models: torch.nn.ModuleList, ids: torch.Tensor,
                mask: torch.Tensor) -> List[torch.Tensor]:
        lengths = mask.sum(dim=1).tolist()  # host-device sync: the keys are read on the host
        rows = ids.cpu().numpy()
        keys = [rows[b, :length].tobytes() for b, length in enumerate(lengths)]
        found = [self.rows.get(key) for key in keys]
        if any(entry is None for entry in found):
            with torch.no_grad():
                computed = [language_model(ids, mask) for language_model in language_models]
            for b, (key, entry) in enumerate(zip(keys, found, strict=True)):
                if entry is None and key not in self.rows:
                    self._store(key, [output[..., b, :lengths[b], :] for output in computed])
            return computed
        outputs = []
        for index in range(len(language_models)):
            # each stored row has time on dim -2: put it first, pad all rows in one call, put B and T back
            rows_of_lm = [entry[index].movedim(-2, 0) for entry in found]  # type: ignore[index]  # B x (T_b, .., D)
            batch = torch.nn.utils.rnn.pad_sequence(rows_of_lm, batch_first=True)  # (B, max T_b, .., D)
            batch = torch.nn.functional.pad(batch.movedim(1, -2), (0, 0, 0, ids.shape[1] - batch.shape[1]))
            outputs.append(batch.movedim(0, -3))  # (.., B, T, D)
        return outputs

    def _store(self, key: bytes, parts: List[torch.Tensor]) -> None:
        size = sum(part.numel() * part.element_size() for part in parts)
        if self.used + size > self.max_bytes:
            if not self.full:
                logger.info("LM feature cache full at %d MiB: later sentences are computed every time",
                            self.used // 2 ** 20)
            self.full = True
            return
        with torch.inference_mode(False):  # a copy that autograd may save, even of an inference tensor
            self.rows[key] = [part.clone() for part in parts]
        self.used += size


def vocabulary_id_map(vocab: Vocabulary, namespace: str, lm_vocab: Vocabulary, lm_namespace: str,
                      token_aliases: Dict[str, str], lowercase_tokens: bool) -> torch.Tensor:
    """(V_tagger,) long: for each id of `vocab`'s `namespace`, the id of the same word in `lm_vocab`'s
    `lm_namespace` (its OOV id when it does not know it), after `token_aliases` (tagger word -> the LM's
    spelling) and then lowercasing. Padding and OOV map to the LM's padding and OOV, whatever their strings."""
    words = [token_aliases.get(word, word) for word in (vocab.get_token_from_index(index, namespace)
                                                         for index in range(vocab.get_vocab_size(namespace)))]
    if lowercase_tokens:
        words = [word.lower() for word in words]
    id_map = torch.from_numpy(lm_vocab.get_token_indices(words, lm_namespace))  # (V_tagger,)
    if vocab.is_padded(namespace):
        id_map[0], id_map[1] = 0, 1
    return id_map
