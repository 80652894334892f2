"""`language_model`: next-token (and, if bidirectional, previous-token) prediction."""
from typing import Any, Dict, Iterator, Optional, Tuple

import torch
from overrides import overrides

from lmlab.common.constraints import PositiveInt, Probability
from lmlab.common.errors import ConfigurationError
from lmlab.common.lazy import Lazy
from lmlab.data.vocabulary import Vocabulary
from lmlab.models.config_sizes import encoder_reads_embedder
from lmlab.models.model import Model
from lmlab.modules.highway import Activation, activation_function
from lmlab.modules.initializers import InitializerApplicator
from lmlab.modules.metrics import Perplexity
from lmlab.modules.regularizers import RegularizerApplicator
from lmlab.modules.seq2seq_encoders import Seq2SeqEncoder
from lmlab.modules.seq2seq_encoders.seq2seq_encoder import StepState, rerun_step
from lmlab.modules.softmax_losses import SoftmaxLoss
from lmlab.modules.text_field_embedders import TextFieldEmbedder
from lmlab.modules.util import TextFieldTensors, get_text_field_mask, get_token_ids


@Model.register("language_model")
class LanguageModel(Model):
    """Embeds tokens, contextualises them with a no-peeking encoder and scores the next (previous) token.

    Registered as a `Model` with name "language_model".

    Parameters
        vocab: Vocabulary                 injected; `target_namespace` sizes the softmax.
        text_field_embedder: TextFieldEmbedder
        contextualizer: Seq2SeqEncoder    must never peek ahead (`no_peeking()`); bidirectional iff
                                          `bidirectional`, with the forward half first in its output.
        dropout: float = None             applied to the contextual embeddings before the softmax only.
        num_samples: int = None           train with a sampled softmax of this many samples (full softmax
                                          in evaluation); shorthand for `softmax_loss: {"type": "sampled_softmax"}`.
        sparse_embeddings: bool = False   sparse gradients for the sampled softmax's output embeddings; train
                                          them with "dense_sparse_adam" (lazy Adam on those rows): the faster
                                          way to train a sampled softmax (see `SampledSoftmaxLoss`).
        bidirectional: bool = False
        softmax_loss: Lazy[SoftmaxLoss] = None   default "softmax" (or "sampled_softmax" with `num_samples`).
                                          One that needs a frequency-sorted vocabulary ("adaptive_softmax")
                                          is refused unless `target_namespace` is recorded as sorted.
        tie_embeddings: bool = False      share the softmax matrix with the "tokens" input embedding.
        carry_hidden_state: bool = False  carry the contextualizer's state from one batch to the next
                                          (row b continues row b): for contiguous `bptt` windows.
        target_namespace: str = "tokens"
        projection_dim: int = None        P: the softmax reads activation(Linear(H -> P)(h)) instead of h, H
                                          being the contextualizer's output size per direction (LD-Net
                                          projects its dense output this way); the projection is shared by
                                          both directions and comes after `dropout`.
        projection_activation: Activation = "linear"   "linear", "relu", "tanh", "gelu" or "sigmoid"; needs
                                          `projection_dim`.
        initializer, regularizer          optional, by parameter-name regex.
    Inputs
        source: text field tensors, must include a "tokens" indexer of one id per token (the targets:
        "single_id", or "pretrained_transformer" whose "mask" tells padding, its id 0 being a word);
        forward_targets: optional text field, explicit next-token targets (contiguous readers); without
        it the target at t is source[t + 1] and the last position has none.
    Outputs (dict)
        loss: scalar, forward NLL per token, or the mean of forward and backward when bidirectional;
        forward_loss: scalar; backward_loss: scalar or None;
        lm_embeddings: (B, T, H) top layer, no dropout (a list of (B, T, H) per layer if the contextualizer
        returns all layers); noncontextual_token_embeddings: (B, T, D); mask: (B, T) bool.
        Losses are absent (None) after `delete_softmax()`. Padding never counts in a loss.
    Metrics
        perplexity per target token; with a "tokens" indexer that gives "word_starts" (sub-word pieces),
        also word_perplexity: exp(forward NLL / the targets that start a whitespace word), comparable with
        a word-level LM's.
    Example
        >>> from lmlab.data import Batch, Vocabulary
        >>> from lmlab.data.dataset_readers import DatasetReader
        >>> from lmlab.models import Model
        >>> reader = DatasetReader.from_params({"type": "simple_language_modeling", "start_tokens": ["<s>"],
        ...                                     "end_tokens": ["</s>"]})
        >>> instances = [reader.text_to_instance(s) for s in ["the cat sat", "the dog sat down"]]
        >>> vocab = Vocabulary.from_instances(instances)
        >>> model = Model.from_params({"type": "language_model", "contextualizer": {
        ...     "type": "lstm", "input_size": 8, "hidden_size": 8}, "text_field_embedder": {
        ...     "token_embedders": {"tokens": {"type": "embedding", "embedding_dim": 8}}}}, vocab=vocab)
        >>> for instance in instances:
        ...     instance.index_fields(vocab)
        >>> output = model(**Batch(instances).as_tensor_dict())
        >>> output["loss"].shape, output["lm_embeddings"].shape  # a scalar; (B, T, H) with T = 4 words + 2
        (torch.Size([]), torch.Size([2, 6, 8]))
    """

    default_predictor = "language_model"

    def __init__(self, vocab: Vocabulary, text_field_embedder: TextFieldEmbedder, contextualizer: Seq2SeqEncoder,
                 dropout: Optional[Probability] = None, num_samples: Optional[PositiveInt] = None,
                 sparse_embeddings: bool = False,
                 bidirectional: bool = False, softmax_loss: Optional[Lazy[SoftmaxLoss]] = None,
                 tie_embeddings: bool = False, carry_hidden_state: bool = False, target_namespace: str = "tokens",
                 projection_dim: Optional[PositiveInt] = None, projection_activation: Activation = "linear",
                 initializer: Optional[InitializerApplicator] = None,
                 regularizer: Optional[RegularizerApplicator] = None) -> None:
        super().__init__(vocab, regularizer)
        # run time, here and below: these checks need the built contextualizer, embedders and vocabulary
        if contextualizer.is_bidirectional() != bidirectional:
            raise ConfigurationError(
                f"bidirectional is {str(bidirectional).lower()} but the contextualizer is "
                f"{'' if contextualizer.is_bidirectional() else 'not '}bidirectional", "contextualizer")
        if not contextualizer.no_peeking():
            raise ConfigurationError(
                f"{type(contextualizer).__name__} lets positions see later tokens (it peeks), so a language "
                "model would learn to copy; use a causal encoder (e.g. lstm, transformer, bidirectional_lm_lstm)",
                "contextualizer")
        if text_field_embedder.get_output_dim() != contextualizer.get_input_dim():
            raise ConfigurationError(
                f"text_field_embedder output dim {text_field_embedder.get_output_dim()} != contextualizer input "
                f"dim {contextualizer.get_input_dim()}", "contextualizer")
        self._text_field_embedder = text_field_embedder
        self._contextualizer = contextualizer
        self._bidirectional = bidirectional
        self._target_namespace = target_namespace
        self._dropout = torch.nn.Dropout(dropout) if dropout else torch.nn.Identity()
        if carry_hidden_state:
            if not contextualizer.supports_state():
                raise ConfigurationError(f"{type(contextualizer).__name__} cannot carry hidden state",
                                         "carry_hidden_state")
            contextualizer.set_stateful(True)
        self._forward_dim = contextualizer.get_output_dim() // (2 if bidirectional else 1)
        self._projection_activation = activation_function(projection_activation)
        self._projection = torch.nn.Linear(self._forward_dim, projection_dim) if projection_dim is not None \
            else None
        if softmax_loss is None:
            config = {"type": "sampled_softmax", "num_samples": num_samples, "sparse": sparse_embeddings} \
                if num_samples else {"type": "softmax"}
            from lmlab.common.params import Params

            softmax_loss = Lazy(SoftmaxLoss, Params(config, "softmax_loss"))
        self._softmax_loss: Optional[SoftmaxLoss] = softmax_loss.construct(
            num_words=vocab.get_vocab_size(target_namespace), embedding_dim=projection_dim or self._forward_dim)
        if self._softmax_loss.requires_frequency_sorted_vocabulary and not vocab.is_frequency_sorted(target_namespace):
            raise ConfigurationError(
                f'{type(self._softmax_loss).__name__} needs the ids of vocabulary namespace "{target_namespace}" '
                "sorted by frequency (most frequent first), and this vocabulary does not record that: build it "
                'from counts (the default "from_instances") or load one saved that way', "softmax_loss")
        if tie_embeddings:  # run time: the built embedder and softmax
            weight = text_field_embedder.token_embedder("tokens").weight
            if not isinstance(weight, torch.nn.Parameter):
                raise ConfigurationError('the "tokens" token embedder has no embedding matrix to tie', "tie_embeddings")
            try:
                self._softmax_loss.tie_weights(weight)
            except ValueError as err:
                raise ConfigurationError(str(err), "tie_embeddings") from err
        self._perplexity = Perplexity()
        self._word_perplexity = Perplexity()
        self._counts_words = False  # a batch has had word starts (sub-word pieces): report word_perplexity
        self._forward_perplexity = Perplexity()
        self._backward_perplexity = Perplexity()
        if initializer is not None:
            initializer(self)

    @classmethod
    def check_arguments(cls, arguments: Dict[str, Any]) -> Iterator[ConfigurationError]:
        yield from encoder_reads_embedder(arguments["text_field_embedder"], arguments["contextualizer"],
                                          "contextualizer")
        if arguments.get("projection_dim") is None and arguments.get("projection_activation", "linear") != "linear":
            yield ConfigurationError("an activation needs a projection: set projection_dim", "projection_activation")
        if arguments.get("num_samples") and arguments.get("softmax_loss") is not None:
            yield ConfigurationError("give either num_samples or softmax_loss, not both", "num_samples")

    # --- the seed's API --------------------------------------------------------------------------
    def delete_softmax(self) -> None:
        """Drop the softmax weights (e.g. when the LM is only used as an embedder)."""
        self._softmax_loss = None

    def num_layers(self) -> int:
        """Contextualizer layers plus one for the non-contextual embeddings."""
        return self._contextualizer.num_layers + 1

    @property
    def softmax_loss(self) -> Optional[SoftmaxLoss]:
        return self._softmax_loss

    @property
    def projection(self) -> Optional[torch.nn.Linear]:
        """The Linear(H -> P) the softmax reads through (`projection_dim`), or None. Its input columns are
        the contextualizer's output columns (e.g. what `DenseRnn.prune_layers` returns indexes them)."""
        return self._projection

    @property
    def target_namespace(self) -> str:
        """The vocabulary namespace of the predicted tokens (the softmax's V ids)."""
        return self._target_namespace

    @property
    def text_field_embedder(self) -> TextFieldEmbedder:
        return self._text_field_embedder

    @property
    def contextualizer(self) -> Seq2SeqEncoder:
        return self._contextualizer

    @property
    def bidirectional(self) -> bool:
        return self._bidirectional

    # --- forward -------------------------------------------------------------------------------
    @overrides(check_signature=False)  # the base takes any batch fields by name
    def forward(self, source: Dict[str, Dict[str, torch.Tensor]],
                forward_targets: Optional[Dict[str, Dict[str, torch.Tensor]]] = None,
                **metadata: Any) -> Dict[str, Any]:
        embeddings, contextual, mask = self.contextualize(source)
        all_layers = contextual.dim() == 4
        top = contextual[-1] if all_layers else contextual  # (B, T, H)
        output: Dict[str, Any] = {
            "lm_embeddings": list(contextual.unbind(0)) if all_layers else top,
            "noncontextual_token_embeddings": embeddings,
            "mask": mask,
            "loss": None, "forward_loss": None, "backward_loss": None,
        }
        softmax = self._softmax_loss
        if softmax is None:
            return output

        token_ids = get_token_ids(source)  # (B, T)
        if forward_targets is not None:
            next_ids = get_token_ids(forward_targets)  # (B, T)
            has_target = get_text_field_mask(forward_targets) & mask  # (B, T)
        else:
            next_ids = torch.nn.functional.pad(token_ids[:, 1:], (0, 1))  # (B, T): target of t is t+1
            has_target = torch.nn.functional.pad(mask[:, 1:], (0, 1))  # (B, T): t + 1 is a token
        next_ids = next_ids * mask  # padding positions never have a target
        dropped = self._dropout(top)  # (B, T, H)
        forward_half = dropped[..., :self._forward_dim]
        # the mask, not the id, tells a real target: a pretrained model's id 0 is a word (GPT-2's "!")
        forward_nll, forward_count = self._summed_nll(softmax, forward_half, next_ids, has_target)
        self._forward_perplexity(forward_nll, forward_count)
        word_starts = (forward_targets if forward_targets is not None else source).get("tokens", {}).get("word_starts")
        if word_starts is not None:  # sub-word pieces: also per whitespace word (the indexer's `word_starts`)
            if forward_targets is None:
                word_starts = torch.nn.functional.pad(word_starts[:, 1:], (0, 1))  # (B, T): of each target
            self._word_perplexity(forward_nll, (word_starts.bool() & has_target).sum())
            self._counts_words = True
        output["forward_loss"] = forward_nll / forward_count.clamp(min=1)
        output["loss"] = output["forward_loss"]
        total_nll, total_count = forward_nll, forward_count
        if self._bidirectional:
            # (B, T): target of t is t-1; masked so that the first padding position of a row gets none
            previous_ids = torch.nn.functional.pad(token_ids[:, :-1], (1, 0)) * mask
            backward_nll, backward_count = self._summed_nll(softmax, dropped[..., self._forward_dim:], previous_ids)
            self._backward_perplexity(backward_nll, backward_count)
            output["backward_loss"] = backward_nll / backward_count.clamp(min=1)
            output["loss"] = 0.5 * (output["forward_loss"] + output["backward_loss"])
            total_nll, total_count = total_nll + backward_nll, total_count + backward_count
        self._perplexity(total_nll, total_count)
        output["num_target_tokens"] = forward_count
        return output

    def contextualize(self, source: Dict[str, Dict[str, torch.Tensor]]):
        """(non-contextual (B, T, D), contextual (B, T, H) or (L, B, T, H), mask (B, T)) without any loss:
        what prediction needs."""
        mask = get_text_field_mask(source)  # (B, T)
        embeddings = self._text_field_embedder(source)  # (B, T, D)
        return embeddings, self._contextualizer(embeddings, mask), mask

    def _summed_nll(self, softmax: SoftmaxLoss, embeddings: torch.Tensor, targets: torch.Tensor,
                    target_mask: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """Summed NLL over positions with a real target (`target_mask` (B, T), default id > 0); returns
        (sum, count)."""
        target_mask = targets > 0 if target_mask is None else target_mask  # (B, T)
        selected = self._project(embeddings[target_mask])  # (N, P or H): only rows with a target
        return softmax(selected, targets[target_mask]), target_mask.sum()

    def log_probs(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Full-vocabulary log-probabilities (..., V) for forward-direction embeddings (..., H)."""
        return self._live_softmax().log_probs(self._project(embeddings))

    def target_log_probs(self, embeddings: torch.Tensor, targets: torch.Tensor,
                         chunk_size: Optional[int] = None) -> torch.Tensor:
        """(N,) log-probabilities of `targets` (N,) after forward-direction embeddings (N, H), without an
        (N, V) block: `SoftmaxLoss.target_log_probs`, `chunk_size` rows at a time."""
        return self._live_softmax().target_log_probs(self._project(embeddings), targets, chunk_size)

    def _live_softmax(self) -> SoftmaxLoss:
        if self._softmax_loss is None:
            raise RuntimeError("the softmax was deleted with delete_softmax()")
        return self._softmax_loss

    # --- incremental decoding --------------------------------------------------------------------
    def can_step(self) -> bool:
        """True if `step` costs only the new tokens (`Seq2SeqEncoder.can_step` of the contextualizer)."""
        return self._contextualizer.can_step()

    def step(self, source: TextFieldTensors, state: Optional[StepState] = None,
             rerun: bool = False) -> Tuple[torch.Tensor, StepState]:
        """Continue rows with their next tokens: (next-token log-probabilities (B, V), the new state).

        Inputs
            source: text field tensors (B, T) of each row's next tokens, right-padded, at least one per row
            (for a row that starts here: its whole prefix, start tokens included).
            state: what `step` returned for these rows (`select_rows` / `concatenate_states` pick and merge
            rows), or None for rows that start here.
            rerun: re-run each row's whole prefix (`rerun_step`) even if the contextualizer can step.
        Outputs
            (B, V) forward-direction log-probabilities of the token after each row's last token of
            `source`; the state after those tokens (`Seq2SeqEncoder.step`).
        Notes
            Equals `log_probs` of `contextualize` over the whole prefix at its last token (to float
            rounding). Only the new tokens are embedded, so the text field embedder must embed every token
            on its own (as the word and character embedders do). The carried state of `carry_hidden_state`
            is neither read nor changed, except by `rerun` (which starts from zeros).
        """
        mask = get_text_field_mask(source)  # (B, T)
        embeddings = self._text_field_embedder(source)  # (B, T, D)
        if rerun:
            contextual, state = rerun_step(self._contextualizer, embeddings, mask, state)
        else:
            contextual, state = self._contextualizer.step(embeddings, mask, state)
        top = contextual[-1] if contextual.dim() == 4 else contextual  # (B, T, H)
        last = (mask.sum(dim=1) - 1).clamp(min=0)  # (B,) each row's last new token
        final = top[torch.arange(top.shape[0], device=top.device), last]  # (B, H)
        return self.log_probs(self.forward_direction_embeddings(final)), state

    def _project(self, embeddings: torch.Tensor) -> torch.Tensor:
        """What the softmax reads: activation(projection(h)) (..., P) when there is a projection, else h."""
        if self._projection is None:
            return embeddings
        return self._projection_activation(self._projection(embeddings))

    @overrides
    def get_metrics(self, reset: bool = False) -> Dict[str, float]:
        metrics = {"perplexity": self._perplexity.get_metric(reset)}
        if self._counts_words:
            metrics["word_perplexity"] = self._word_perplexity.get_metric(reset)
        if self._bidirectional:
            metrics["forward_perplexity"] = self._forward_perplexity.get_metric(reset)
            metrics["backward_perplexity"] = self._backward_perplexity.get_metric(reset)
        elif reset:
            self._forward_perplexity.reset()
        return metrics

    @overrides
    def reset_states(self) -> None:
        """Forget any carried hidden state (start of an epoch or of a new text)."""
        self._contextualizer.reset_states()

    def forward_direction_embeddings(self, lm_embeddings: torch.Tensor) -> torch.Tensor:
        return lm_embeddings[..., :self._forward_dim]
