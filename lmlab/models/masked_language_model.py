"""`masked_language_model`: predict the tokens hidden behind "[MASK]" from both sides of the context."""
import logging
from typing import Any, Dict, List, Optional, Sequence, Set

import torch
from overrides import overrides
from torch.nn import functional as F

from lmlab.common.constraints import DropoutRate
from lmlab.common.errors import ConfigurationError, InputError
from lmlab.data.dataset_readers.masked_language_modeling import DEFAULT_MASK_TOKEN
from lmlab.data.vocabulary import Vocabulary
from lmlab.models.model import Model
from lmlab.modules.initializers import InitializerApplicator
from lmlab.modules.language_model_heads import LanguageModelHead
from lmlab.modules.metrics import Perplexity
from lmlab.modules.seq2seq_encoders import Seq2SeqEncoder
from lmlab.modules.text_field_embedders import TextFieldEmbedder
from lmlab.modules.token_embedders import Embedding
from lmlab.modules.util import get_text_field_mask, get_token_ids

logger = logging.getLogger(__name__)

_IGNORE = -100  # cross_entropy's ignore_index: the target of a padded mask position


@Model.register("masked_language_model")
class MaskedLanguageModel(Model):
    """Embeds a partly masked sentence, contextualises it and scores the vocabulary at the mask positions.

    Registered as a `Model` with name "masked_language_model".

    Parameters
        vocab: Vocabulary                     injected by lmlab.
        text_field_embedder: TextFieldEmbedder
        language_model_head: LanguageModelHead   hidden (H) -> logits over `target_namespace` (V).
        contextualizer: Optional[Seq2SeqEncoder] = None   should see both sides of a position (it may
            peek: e.g. "lstm" with bidirectional=true); None when the embedder already contextualises.
        target_namespace: str = "tokens"      names the V ids of the head and of `target_ids` (AllenNLP's
            default is "bert", a wordpiece namespace; lmlab readers index words into "tokens").
        dropout: float = 0.0                  on the hidden vectors at the mask positions, before the head.
        tie_embeddings: bool = False          share the head's (V, H) matrix with the "tokens" embedding
            (also done when the head is registered as "tied").
        initializer: Optional[InitializerApplicator] = None
    Inputs
        tokens: text field tensors of the masked sentences, (B, T) per indexer;
        mask_positions: (B, M) int64, positions in `tokens` to predict, padded with -1;
        target_ids: optional text field of the M original tokens, (B, M) ids of its "tokens" indexer,
            0 where `mask_positions` is -1;
        metadata: optional list of B dicts (ignored by `forward`).
    Outputs (dict)
        logits: (B, M, V) unnormalised scores at each mask position (meaningless where the position
            is -1); mask_positions: (B, M) as given;
        with target_ids: loss, scalar mean cross entropy over the real mask positions (padded positions
            never count); num_target_tokens: scalar count of them.
        `decode` adds top_indices / top_probabilities (B, M, k) and "words" (see `decode`).
    Notes
        Only the M gathered positions go through the head (B*M*V logits, not B*T*V).
        Metric: "perplexity" = exp(mean NLL of the targets).
    """

    default_predictor = "masked_language_model"

    def __init__(self, vocab: Vocabulary, text_field_embedder: TextFieldEmbedder,
                 language_model_head: LanguageModelHead, contextualizer: Optional[Seq2SeqEncoder] = None,
                 target_namespace: str = "tokens", dropout: DropoutRate = 0.0, tie_embeddings: bool = False,
                 initializer: Optional[InitializerApplicator] = None) -> None:
        super().__init__(vocab)
        # run time, here and below: these checks need the built modules and the vocabulary size
        hidden_dim = text_field_embedder.get_output_dim()
        if contextualizer is not None:
            if contextualizer.get_input_dim() != hidden_dim:
                raise ConfigurationError(f"text_field_embedder output dim {hidden_dim} != contextualizer input dim "
                                         f"{contextualizer.get_input_dim()}", "contextualizer")
            if not contextualizer.is_bidirectional():
                logger.warning("the masked LM's contextualizer %s is unidirectional: a masked position sees only "
                               "its left context", type(contextualizer).__name__)
            hidden_dim = contextualizer.get_output_dim()
        if language_model_head.get_input_dim() != hidden_dim:
            where = "contextualizer" if contextualizer is not None else "text_field_embedder"
            raise ConfigurationError(f"{where} output dim {hidden_dim} != language_model_head input dim "
                                     f"{language_model_head.get_input_dim()}", "language_model_head.input_dim")
        num_words = vocab.get_vocab_size(target_namespace)
        if language_model_head.get_output_dim() != num_words:
            raise ConfigurationError(f"language_model_head output dim {language_model_head.get_output_dim()} != size "
                                     f'{num_words} of the target namespace "{target_namespace}"',
                                     "language_model_head")
        self._text_field_embedder = text_field_embedder
        self._contextualizer = contextualizer
        self._language_model_head = language_model_head
        self._target_namespace = target_namespace
        self._dropout = torch.nn.Dropout(dropout) if dropout else torch.nn.Identity()
        self.tie_embeddings = tie_embeddings
        if tie_embeddings or language_model_head.tie_embeddings:
            embedder = text_field_embedder.token_embedder("tokens")
            if not isinstance(embedder, Embedding):
                raise ConfigurationError(f'needs a "tokens" token embedder of type "embedding" (a weight matrix), '
                                         f"found {type(embedder).__name__}", "tie_embeddings")
            try:
                language_model_head.tie_weights(embedder.weight)
            except ValueError as err:
                raise ConfigurationError(str(err), "tie_embeddings") from err
        self.top_k = 5
        """Words per mask position that `decode` lists unless told otherwise."""
        self._perplexity = Perplexity()
        if initializer is not None:
            initializer(self)

    @property
    def target_namespace(self) -> str:
        """The vocabulary namespace of the predicted tokens (the head's V ids)."""
        return self._target_namespace

    @overrides(check_signature=False)  # the base takes any batch fields by name
    def forward(self, tokens: Dict[str, Dict[str, torch.Tensor]],
                mask_positions: torch.Tensor, target_ids: Optional[Dict[str, Dict[str, torch.Tensor]]] = None,
                metadata: Optional[List[Dict[str, Any]]] = None) -> Dict[str, Any]:
        mask = get_text_field_mask(tokens)  # (B, T)
        hidden = self._text_field_embedder(tokens)  # (B, T, D)
        if self._contextualizer is not None:
            hidden = self._contextualizer(hidden, mask)  # (B, T, H) or (L, B, T, H)
            if hidden.dim() == 4:
                hidden = hidden[-1]  # (B, T, H): the top layer
        real = mask_positions >= 0  # (B, M)
        index = mask_positions.clamp(min=0).unsqueeze(-1).expand(-1, -1, hidden.size(-1))  # (B, M, H)
        at_masks = hidden.gather(1, index)  # (B, M, H)
        logits = self._language_model_head(self._dropout(at_masks))  # (B, M, V)
        output: Dict[str, Any] = {"logits": logits, "mask_positions": mask_positions}
        if target_ids is not None:
            targets = get_token_ids(target_ids)  # (B, M)
            if targets.shape != mask_positions.shape:
                raise ValueError(f"target_ids has shape {tuple(targets.shape)}, mask_positions "
                                 f"{tuple(mask_positions.shape)}: expected one target per mask position")
            targets = targets.masked_fill(~real, _IGNORE)  # (B, M)
            nll = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1),
                                  ignore_index=_IGNORE, reduction="sum")
            count = real.sum()
            self._perplexity(nll, count)
            output["loss"] = nll / count.clamp(min=1)
            output["num_target_tokens"] = count
        return output

    def decode(self, output_dict: Dict[str, Any], top_k: Optional[int] = None,
               exclude: Sequence[str] = ()) -> Dict[str, Any]:
        """Adds the k = `top_k` (default `self.top_k`) most probable words at every mask position.

        Padding, OOV, "[MASK]" and the tokens in `exclude` (e.g. a reader's own mask token) are never
        listed; probabilities come from the full softmax, so they need not sum to 1.
        Adds (and returns the same dict): top_indices (B, M, k) int64; top_probabilities (B, M, k),
        descending; words: per instance, per real mask position (in order), a list of k
        `(word, probability)` pairs, best first.
        """
        k = self.top_k if top_k is None else top_k
        if k < 1:
            raise ValueError(f"top_k must be >= 1, found {k}")
        logits = output_dict["logits"]  # (B, M, V)
        probabilities = torch.softmax(logits.float(), dim=-1)  # (B, M, V)
        banned = self._banned_ids(logits.device, exclude)
        ranking = probabilities.index_fill(-1, banned, -1.0)  # (B, M, V): banned ids rank last
        k = max(1, min(k, logits.size(-1) - len(banned)))
        top_probabilities, top_indices = ranking.topk(k, dim=-1)  # (B, M, k)
        output_dict["top_indices"] = top_indices
        output_dict["top_probabilities"] = top_probabilities
        real = (output_dict["mask_positions"] >= 0).tolist()
        words = []
        for row_real, row_ids, row_probabilities in zip(real, top_indices.tolist(), top_probabilities.tolist(),
                                                         strict=True):
            words.append([[(self.vocab.get_token_from_index(i, self._target_namespace), p)
                           for i, p in zip(ids, probs, strict=True) if p >= 0]
                          for is_real, ids, probs in zip(row_real, row_ids, row_probabilities, strict=True)
                          if is_real])
        output_dict["words"] = words
        return output_dict

    @overrides
    def make_output_human_readable(self, output_dict: Dict[str, Any]) -> Dict[str, Any]:
        return self.decode(output_dict)

    def _banned_ids(self, device: torch.device, exclude: Sequence[str] = ()) -> torch.Tensor:
        vocab, namespace = self.vocab, self._target_namespace
        banned: Set[int] = set()
        if vocab.is_padded(namespace):
            banned.update((0, vocab.get_token_index(vocab.oov_token, namespace)))
        for token in (DEFAULT_MASK_TOKEN, *exclude):
            try:  # an unknown token is the OOV id (banned anyway), or an error in a non-padded namespace
                banned.add(vocab.get_token_index(token, namespace))
            except InputError:
                pass
        return torch.tensor(sorted(banned), dtype=torch.long, device=device)

    @overrides
    def get_metrics(self, reset: bool = False) -> Dict[str, float]:
        return {"perplexity": self._perplexity.get_metric(reset)}

    @overrides
    def extra_repr(self) -> str:
        return f"target_namespace={self._target_namespace!r}, top_k={self.top_k}, tie_embeddings={self.tie_embeddings}"
