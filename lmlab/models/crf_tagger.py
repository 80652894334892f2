"""`crf_tagger`: sequence labelling with a linear-chain CRF (chunking, NER), optionally on LM features."""
from typing import Any, Dict, Iterator, List, Optional

import torch
from overrides import overrides

from lmlab.common.constraints import PositiveInt, Probability
from lmlab.common.errors import ConfigurationError
from lmlab.data.label_codings import LabelCoding, allowed_transitions, to_spans
from lmlab.data.vocabulary import Vocabulary
from lmlab.models.config_sizes import encoder_reads_embedder
from lmlab.models.model import Model
from lmlab.modules.conditional_random_field import ConditionalRandomField
from lmlab.modules.initializers import InitializerApplicator
from lmlab.modules.layer_selection import LayerSelection
from lmlab.modules.metrics import CategoricalAccuracy, SpanBasedF1Measure
from lmlab.modules.regularizers import RegularizerApplicator
from lmlab.modules.seq2seq_encoders import Seq2SeqEncoder
from lmlab.modules.text_field_embedders import TextFieldEmbedder
from lmlab.modules.token_embedders.language_model_token_embedder import LanguageModelTokenEmbedder
from lmlab.modules.util import get_text_field_mask


@Model.register("crf_tagger")
class CrfTagger(Model):
    """Embeds tokens, encodes them (e.g. a BiLSTM), scores every tag per token and decodes with a CRF.

    Registered as a `Model` with name "crf_tagger".

    Parameters
        vocab: Vocabulary                 injected; `label_namespace` holds the K tags.
        text_field_embedder: TextFieldEmbedder   words, characters ("character_encoding" CNN or
                                          "character_lstm") and contextual features
                                          ("language_model_token_embedder", "elmo_token_embedder").
        encoder: Optional[Seq2SeqEncoder] = None   e.g. a bidirectional "lstm"; None: the embeddings are
                                          scored directly.
        label_namespace: str = "labels"
        label_encoding: Optional[str] = None   "IOB1", "BIO" (= "IOB2") or "BIOES", the coding of the
                                          labels: enables span F1, decoding constraints and spans in
                                          predictions.
        constrain_crf_decoding: Optional[bool] = None   decode only sequences well-formed in
                                          `label_encoding` (default: true when it is given).
        dropout: Optional[float] = None   on the embeddings and on the encoder's output (LD-Net's places).
        include_start_end_transitions: bool = True
        top_k: Optional[int] = None       also return the k best tag sequences and their scores.
        layer_selection: Optional[LayerSelection] = None   LD-Net pruning: train the gates of the layers of
                                          the dense language models behind every "language_model_token_embedder"
                                          with this sparsity objective (see `lmlab prune`). The training
                                          objective is then LD-Net's: the NLL per sentence plus the penalty.
        initializer, regularizer          optional, by parameter-name regex.
    Inputs
        tokens: text field tensors; tags: optional (B, T) long gold tag ids;
        metadata: optional list of B dicts with "words" (copied to the output).
    Outputs (dict)
        logits: (B, T, K) emission scores; mask: (B, T) bool; tags: (B, T) long best sequence (0 at padding);
        top_k_tags: (B, k, T) and top_k_scores: (B, k) with `top_k`; when tags are given, loss: scalar, the
        CRF's negative log-likelihood of the batch per token, and num_target_tokens: the tokens it is
        averaged over; with `layer_selection` the loss is the NLL per sentence (summed over the batch,
        divided by B, as LD-Net's `CRFLoss(average_batch=True)`) and num_target_tokens is B, so that
        the penalty's strength means what LD-Net's lambda_0 means; words: from metadata.
    Initialisation
        As AllenNLP's crf_tagger, part by part: word and character vectors Xavier-uniform ("embedding",
        "character_lstm", "character_encoding"), LSTMs and the tag projection torch's defaults (AllenNLP
        wraps torch.nn.LSTM and torch.nn.Linear), the CRF's transitions Xavier-normal and its start/end
        transitions normal(0, 1). `initializer` changes any of them by name.
    Metrics
        accuracy (tokens), and with `label_encoding` precision-, recall-, f1-measure- "overall" and per
        chunk type (conlleval's counts). With `layer_selection` also "active_layers" (non-zero gates) and
        "f1-measure-within-budget": f1-measure-overall while at most `budget` layers are active, else 0
        (the validation metric `lmlab prune` selects checkpoints by).
    Example
        >>> from lmlab.data import Batch, Vocabulary
        >>> from lmlab.data.dataset_readers import DatasetReader
        >>> from lmlab.models import Model
        >>> reader = DatasetReader.from_params({"type": "conll", "num_columns": 2})
        >>> instances = [reader.text_to_instance(["He", "ran"], ["B-NP", "B-VP"]),
        ...              reader.text_to_instance(["She", "sat", "down"], ["B-NP", "B-VP", "O"])]
        >>> vocab = Vocabulary.from_instances(instances)
        >>> tagger = Model.from_params({"type": "crf_tagger", "label_encoding": "BIO", "encoder": {
        ...     "type": "lstm", "input_size": 8, "hidden_size": 4, "bidirectional": True}, "text_field_embedder": {
        ...     "token_embedders": {"tokens": {"type": "embedding", "embedding_dim": 8}}}}, vocab=vocab)
        >>> for instance in instances:
        ...     instance.index_fields(vocab)
        >>> output = tagger(**Batch(instances).as_tensor_dict())
        >>> output["loss"].shape, output["tags"].shape  # the CRF's NLL; (B, T) Viterbi tags
        (torch.Size([]), torch.Size([2, 3]))
    """

    default_predictor = "sentence_tagger"

    def __init__(self, vocab: Vocabulary, text_field_embedder: TextFieldEmbedder,
                 encoder: Optional[Seq2SeqEncoder] = None, label_namespace: str = "labels",
                 label_encoding: Optional[LabelCoding] = None, constrain_crf_decoding: Optional[bool] = None,
                 dropout: Optional[Probability] = None, include_start_end_transitions: bool = True,
                 top_k: Optional[PositiveInt] = None, layer_selection: Optional[LayerSelection] = None,
                 initializer: Optional[InitializerApplicator] = None,
                 regularizer: Optional[RegularizerApplicator] = None) -> None:
        super().__init__(vocab, regularizer)
        # run time, here and below: these checks need the built embedders and the vocabulary's labels
        if encoder is not None and text_field_embedder.get_output_dim() != encoder.get_input_dim():
            raise ConfigurationError(f"text_field_embedder output dim {text_field_embedder.get_output_dim()} != "
                                     f"encoder input dim {encoder.get_input_dim()}", "encoder")
        self.label_namespace = label_namespace
        self.label_encoding = label_encoding
        self.top_k = top_k
        self.num_tags = vocab.get_vocab_size(label_namespace)
        self.labels = [vocab.get_token_from_index(index, label_namespace) for index in range(self.num_tags)]
        self._text_field_embedder = text_field_embedder
        self._encoder = encoder
        self._dropout = torch.nn.Dropout(dropout) if dropout else torch.nn.Identity()
        output_dim = (encoder or text_field_embedder).get_output_dim()
        self._tag_projection = torch.nn.Linear(output_dim, self.num_tags)
        constraints = None
        if label_encoding is not None and constrain_crf_decoding is not False:
            try:
                constraints = allowed_transitions(self.labels, label_encoding)
            except ValueError as err:
                raise ConfigurationError(str(err), "label_encoding") from None
        self.crf = ConditionalRandomField(self.num_tags, constraints,
                                          include_start_end_transitions=include_start_end_transitions)
        self._accuracy = CategoricalAccuracy()
        self._span_f1: Optional[SpanBasedF1Measure] = None
        if label_encoding is not None:
            try:
                self._span_f1 = SpanBasedF1Measure(vocab, label_namespace, label_encoding)
            except ValueError as err:
                raise ConfigurationError(str(err), "label_encoding") from None
        self._layer_selection = layer_selection
        if layer_selection is not None:
            if not self._language_model_embedders():
                raise ConfigurationError('needs a "language_model_token_embedder" in text_field_embedder',
                                         "layer_selection")
            for embedder in self._language_model_embedders():
                try:
                    embedder.set_gates_trainable(True)
                except ConfigurationError as err:
                    raise ConfigurationError(err.problems[0][1], "layer_selection") from None
        if initializer is not None:
            initializer(self)

    @classmethod
    def check_arguments(cls, arguments: Dict[str, Any]) -> Iterator[ConfigurationError]:
        yield from encoder_reads_embedder(arguments["text_field_embedder"], arguments.get("encoder"), "encoder")
        if arguments.get("label_encoding") is None:
            if arguments.get("constrain_crf_decoding"):
                yield ConfigurationError("constraints come from the label coding: set label_encoding",
                                         "constrain_crf_decoding")
            if arguments.get("layer_selection") is not None:
                yield ConfigurationError("layer selection keeps the best span F1 within budget: set label_encoding",
                                         "layer_selection")

    @overrides(check_signature=False)  # the base takes any batch fields by name
    def forward(self, tokens: Dict[str, Dict[str, torch.Tensor]], tags: Optional[torch.Tensor] = None,
                metadata: Optional[List[Dict[str, Any]]] = None) -> Dict[str, Any]:
        mask = get_text_field_mask(tokens)  # (B, T)
        encoded = self._dropout(self._text_field_embedder(tokens))  # (B, T, D)
        if self._encoder is not None:
            encoded = self._dropout(self._encoder(encoded, mask))  # (B, T, H)
        logits = self._tag_projection(encoded)  # (B, T, K)
        with torch.no_grad():
            best, _ = self.crf.viterbi_decode(logits, mask)  # (B, T)
        output: Dict[str, Any] = {"logits": logits, "mask": mask, "tags": best}
        if self.top_k is not None:
            with torch.no_grad():
                output["top_k_tags"], output["top_k_scores"] = self.crf.viterbi_decode(logits, mask, self.top_k)
        if tags is not None:
            log_likelihood = self.crf(logits, tags, mask)  # (B,)
            if self._layer_selection is None:
                num_tokens = mask.sum()
                output["loss"] = -log_likelihood.sum() / num_tokens.clamp(min=1)
                output["num_target_tokens"] = num_tokens
            else:  # LD-Net's CRFLoss(average_batch=True): lambda_0 is relative to the NLL per sentence
                output["loss"] = -log_likelihood.mean()
                output["num_target_tokens"] = log_likelihood.new_tensor(log_likelihood.shape[0])
            self._accuracy(best, tags, mask)
            if self._span_f1 is not None:
                self._span_f1(best, tags, mask)
        if metadata is not None:
            output["words"] = [item["words"] for item in metadata]
        return output

    @overrides
    def make_output_human_readable(self, output_dict: Dict[str, Any]) -> Dict[str, Any]:
        """Adds "labels" (per row, the label strings of the real tokens) and, with a label coding, "spans"
        (per row, (type, start, end exclusive) chunks) to the output of `forward`."""
        lengths = output_dict["mask"].sum(dim=1).tolist()
        rows = output_dict["tags"].tolist()
        labels = [[self.labels[tag] for tag in row[:length]] for row, length in zip(rows, lengths, strict=True)]
        output_dict["labels"] = labels
        if self.label_encoding is not None:
            output_dict["spans"] = [to_spans(row, self.label_encoding) for row in labels]
        return output_dict

    @overrides
    def get_metrics(self, reset: bool = False) -> Dict[str, float]:
        metrics = {"accuracy": self._accuracy.get_metric(reset)}
        if self._span_f1 is not None:
            metrics.update(self._span_f1.get_metric(reset))
        if self._layer_selection is not None:
            active = int(self._layer_selection.active(self._gates()))
            metrics["active_layers"] = float(active)
            within = active <= self._layer_selection.budget
            metrics["f1-measure-within-budget"] = metrics["f1-measure-overall"] if within else 0.0
        return metrics

    @overrides
    def get_regularization_penalty(self) -> Optional[torch.Tensor]:
        penalty = super().get_regularization_penalty()
        if self._layer_selection is None:
            return penalty
        selection = self._layer_selection.penalty(self._gates())
        return selection if penalty is None else penalty + selection

    # --- layer selection -------------------------------------------------------------------------
    @property
    def layer_selection(self) -> Optional[LayerSelection]:
        return self._layer_selection

    def _language_model_embedders(self) -> List[LanguageModelTokenEmbedder]:
        return [module for module in self._text_field_embedder.modules()
                if isinstance(module, LanguageModelTokenEmbedder)]

    def _gates(self) -> torch.Tensor:
        return torch.cat([embedder.gates() for embedder in self._language_model_embedders()])

    def kept_layers(self) -> List[List[Optional[List[int]]]]:
        """Per language-model embedder, per LM, the original indices of the layers still present."""
        return [embedder.kept_layers() for embedder in self._language_model_embedders()]

    def prune(self) -> None:
        """Delete every LM layer whose gate is 0 (and the matching projection inputs); the tagger's outputs
        are unchanged. Gates stay as they are (trainable or not); build a new optimizer to train on."""
        embedders = self._language_model_embedders()
        if not embedders:  # run time: the built model's embedders
            raise ConfigurationError('nothing to prune: the model has no "language_model_token_embedder"')
        for embedder in embedders:
            embedder.prune()
