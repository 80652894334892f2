"""Opening lmlab language-model archives for other models: the one loader, and the archive-reading
"language_model_token_embedder".

`load_language_model` is the only place that opens a `model.tar.gz` to use a trained `LanguageModel` inside
another model: through `load_archive` (the archived config builds the model, the archived weights fill it)
and the model's public parts (`text_field_embedder`, `contextualizer`, `vocab`). `elmo_from_archive`
(`lmlab.models.elmo_lm`) and `ArchivedLanguageModelTokenEmbedder` use it; the module layer only ever gets
the parts.
"""
from typing import Dict, List, Literal, Optional

import torch

from lmlab.common.constraints import NonNegativeInt, PositiveInt, Probability
from lmlab.common.errors import ConfigurationError
from lmlab.data.vocabulary import Vocabulary
from lmlab.models.archival import load_archive
from lmlab.models.language_model import LanguageModel
from lmlab.modules.seq2seq_encoders.rnn_stack import RnnStack
from lmlab.modules.text_field_embedders import BasicTextFieldEmbedder
from lmlab.modules.token_embedders import Embedding, TokenEmbedder
from lmlab.modules.token_embedders.language_model_token_embedder import (
    FrozenLanguageModel,
    LanguageModelTokenEmbedder,
    vocabulary_id_map,
)


def load_language_model(archive_file: str, where: str, bidirectional: Optional[bool] = None,
                        cuda_device: int = -1) -> LanguageModel:
    """The trained `LanguageModel` of the archive `archive_file` (path or URL), in eval mode.

    `where` is the config key that named the archive, the location of the errors. `bidirectional`: the
    direction the caller needs (None: either). Raises a `ConfigurationError` when the archive holds another
    kind of model or the other direction; archive errors (a missing or corrupt file) are `load_archive`'s.
    """
    model = load_archive(archive_file, cuda_device=cuda_device).model
    # run time, every check here and in `frozen_language_model`: what the archive holds
    if not isinstance(model, LanguageModel):
        raise ConfigurationError(f'{archive_file} holds a {type(model).__name__}; expected a "language_model"', where)
    if bidirectional is not None and model.bidirectional != bidirectional:
        expected = "bidirectional" if bidirectional else "unidirectional"
        found = "bidirectional" if model.bidirectional else "unidirectional"
        raise ConfigurationError(f'{archive_file} holds a {found} "language_model"; expected a {expected} one', where)
    return model


def frozen_language_model(model: LanguageModel, archive_file: str, where: str, reverse: bool, all_layers: bool,
                          vocab: Vocabulary, vocab_namespace: str, token_aliases: Dict[str, str],
                          lowercase_tokens: bool, context_token: Optional[str]) -> FrozenLanguageModel:
    """The input side of a word-level unidirectional `model` (its embedder and contextualizer, shared, not
    copied) reading the ids of `vocab`'s `vocab_namespace`; see `ArchivedLanguageModelTokenEmbedder`."""
    # run time, every check here: the loaded language model and its vocabulary
    text_field_embedder = model.text_field_embedder
    token_embedders: Dict[str, torch.nn.Module] = dict(text_field_embedder.token_embedders.items()) \
        if isinstance(text_field_embedder, BasicTextFieldEmbedder) else {}
    embedding = next(iter(token_embedders.values())) if len(token_embedders) == 1 else None
    if not isinstance(embedding, Embedding):
        raise ConfigurationError(f'{archive_file}: expected a language model that embeds word ids with one '
                                 f'"embedding", found token embedders {sorted(token_embedders)}', where)
    (indexer,) = token_embedders
    contextualizer = model.contextualizer
    contextualizer.set_stateful(False)
    if all_layers:
        if not isinstance(contextualizer, RnnStack):
            raise ConfigurationError(f'mode "scalar_mix" mixes the layers of a "basic_rnn", "dense_rnn" or "ld_rnn" '
                                     f"contextualizer; {archive_file} has a {type(contextualizer).__name__}", where)
        contextualizer.return_all_layers = True
    lm_vocab, lm_namespace = model.vocab, embedding.vocab_namespace
    id_map = vocabulary_id_map(vocab, vocab_namespace, lm_vocab, lm_namespace, token_aliases, lowercase_tokens)
    context_id = None if context_token is None else \
        lm_vocab.get_token_to_index_vocabulary(lm_namespace).get(context_token)
    if context_token is not None and context_id is None:
        raise ConfigurationError(f"{context_token!r} is not a word of the language model in {archive_file}",
                                 "context_token")
    return FrozenLanguageModel(text_field_embedder, indexer, contextualizer, id_map, reverse, context_id)


@TokenEmbedder.register("language_model_token_embedder")
class ArchivedLanguageModelTokenEmbedder(LanguageModelTokenEmbedder):
    """Contextual token vectors from one or two frozen, trained lmlab language models (forward + backward).

    Registered as a `TokenEmbedder` with name "language_model_token_embedder": the config-facing
    constructor of `LanguageModelTokenEmbedder`, which opens the archives (`load_language_model`).

    Parameters
        forward_archive: str              model.tar.gz (path or URL) of a unidirectional "language_model"
                                          that embeds word ids with one "embedding".
        backward_archive: Optional[str] = None   the same for the backward LM: a forward LM trained on
                                          reversed text (the contiguous reader's `reverse`); it reads each
                                          sentence from its end.
        mode: "concat" | "scalar_mix" = "concat"
                                          concat: the LMs' contextualizer outputs side by side, for a
                                          "dense_rnn"/"ld_rnn" [embedding, layer_1, ..., layer_L] (LD-Net);
                                          scalar_mix: per LM a learned `ScalarMix` of its contextualizer's
                                          layers (ELMo), which needs a contextualizer that can return them.
        projection_dim: Optional[int] = None   P: ReLU(Linear(D -> P)) of the features (LD-Net's `lm_seq`).
                                          Layer selection and pruning need it (mode concat).
        dropout: float = 0.0              on the features, before the projection.
        do_layer_norm: bool = False       scalar_mix: normalise each layer inside the mix.
        vocab_namespace: str = "tokens"   namespace of the ids this embedder gets (the tagger's vocabulary).
        token_aliases: Optional[Dict[str, str]] = None   tagger word -> the LM's spelling of it, where the
                                          two corpora write it differently (Penn Treebank's -LRB- and its
                                          doubled quote marks for an LM that saw "(" and '"'). Applied before
                                          the lookup and the lowercasing; other words are looked up as they are.
        lowercase_tokens: bool = False    lowercase the tagger's words before looking them up in an LM's
                                          vocabulary (for LMs trained on lowercased text).
        context_token: Optional[str] = None   a word of the LMs' vocabulary each LM reads just before a
                                          sentence (a backward LM: just after it), its output dropped: the
                                          boundary the LMs learnt to start from, e.g. "<eos>" for LMs trained
                                          on contiguous lines ending in "<eos>", which never saw the zero
                                          state a sentence otherwise starts from. AllenNLP's `bos_eos_tokens`.
        feature_cache_mb: int = 0         MiB for each sentence's LM outputs, computed once and reused
                                          while no gate trains; 0: none (see `LanguageModelTokenEmbedder`).
        vocab: Vocabulary                 injected by lmlab (the tagger's vocabulary).
    Inputs
        ids: (B, T) long ids of `vocab_namespace`; 0 is padding.
    Outputs
        (B, T, D), zeros at padding; see `LanguageModelTokenEmbedder`.
    Notes
        Each tagger id is mapped once, at construction, to the LM id of the same word (OOV when the LM does
        not know it), so build the tagger's vocabulary for `vocab_namespace` from all its data.
        Like "elmo_token_embedder" this constructor reads files (the archives). The LM weights are saved
        with the tagger, but rebuilding it from its config reads the archives again: keep them reachable.
    """

    def __init__(self, forward_archive: str, backward_archive: Optional[str] = None,
                 mode: Literal["concat", "scalar_mix"] = "concat", projection_dim: Optional[PositiveInt] = None,
                 dropout: Probability = 0.0, do_layer_norm: bool = False, vocab_namespace: str = "tokens",
                 token_aliases: Optional[Dict[str, str]] = None, lowercase_tokens: bool = False,
                 context_token: Optional[str] = None, feature_cache_mb: NonNegativeInt = 0,
                 vocab: Optional[Vocabulary] = None) -> None:
        if vocab is None:  # run time: `vocab` is given by the caller (lmlab injects it)
            raise ConfigurationError("needs the vocabulary of the model it is part of (lmlab injects it)", "vocab")
        archives = [("forward_archive", forward_archive, False)]
        if backward_archive is not None:
            archives.append(("backward_archive", backward_archive, True))
        language_models: List[FrozenLanguageModel] = []
        for where, path, reverse in archives:
            model = load_language_model(path, where, bidirectional=False)
            language_models.append(frozen_language_model(model, path, where, reverse, mode == "scalar_mix", vocab,
                                                          vocab_namespace, token_aliases or {}, lowercase_tokens,
                                                          context_token))
        super().__init__(language_models, mode=mode, projection_dim=projection_dim, dropout=dropout,
                         do_layer_norm=do_layer_norm, feature_cache_mb=feature_cache_mb)
