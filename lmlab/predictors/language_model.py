"""`language_model` predictor: next-token top-k, sentence scores and text continuation."""
import math
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, cast

import torch
from overrides import overrides

from lmlab.common.errors import ConfigurationError, InputError, did_you_mean
from lmlab.data.batch import Batch
from lmlab.data.data_loaders import move_to_device
from lmlab.data.dataset_readers.dataset_reader import DatasetReader
from lmlab.data.fields.text_field import TextField
from lmlab.data.instance import Instance
from lmlab.models.language_model import LanguageModel
from lmlab.modules.util import TextFieldTensors, get_token_ids
from lmlab.predictors.continuations import Continuations
from lmlab.predictors.predictor import MAX_CHARS, MAX_TOP_K, JsonDict, Predictor, bounded_int, require_text, shown

GENERATE_OPTIONS = {"max_tokens": 20, "greedy": False, "temperature": 1.0, "top_k": None, "top_p": None, "seed": None}
TEMPERATURES = (0.01, 100.0)
"""The temperatures accepted: beyond them float32 sampling is a greedy choice or a uniform draw in all but name,
and far beyond them it overflows (greedy: true is the limit at 0)."""
MAX_SEED = 2 ** 64 - 1  # torch.Generator.manual_seed takes 0 to 2**64 - 1
REQUEST_OPTIONS = ("sentence", "top_k", "score", "next_token", "generate")


@dataclass
class LanguageModelRequest:
    tokens: List[str]          # the sentence's tokens, tokenised and cut as the reader does in training
    prefix: List[str]          # start tokens + tokens: what the next token / continuation follows
    full: List[str]            # prefix + end tokens (the reader's framing of the sentence): what is scored
    top_k: int = 5
    score: bool = True
    next_token: bool = True
    generate: Optional[Dict[str, Any]] = field(default=None)


@Predictor.register("language_model")
class LanguageModelPredictor(Predictor[LanguageModelRequest]):
    """Scores and continues sentences with a `language_model`.

    Registered as a `Predictor` with name "language_model".

    Parameters
        model: LanguageModel;  dataset_reader: DatasetReader (run time).
        max_tokens: int = 512    longest framed sentence plus tokens to generate accepted.
        max_chars: int = 100000  longest sentence accepted, in characters (checked before tokenising, so
                                 one input's cost is bounded even when the reader cuts long sentences).
        incremental: bool = True generate with `LanguageModel.step`, one position per new token; false
                                 re-runs every row's whole prefix for each token (what a contextualizer
                                 that cannot step does anyway): slower, for comparisons.
    Inputs (one JSON object per line)
        sentence: str (required); top_k: int = 5 next-token candidates; score: bool = true;
        next_token: bool = true; generate: object, optional, with max_tokens (20), greedy (false),
        temperature (1.0), top_k, top_p, seed — continue the sentence by sampling.
        Ranges: top_k and generate.top_k from 1 to 1000 (`MAX_TOP_K`), temperature from 0.01 to 100,
        top_p in (0, 1], seed from 0 to 2**64 - 1, max_tokens from 1 (framed sentence + max_tokens at most
        the predictor's max_tokens); numbers must be finite.
    Outputs
        tokens: the sentence's tokens as the model saw them; log_probability (natural log, of every token
        after the first including end tokens) and perplexity with scored_tokens; next_tokens:
        [{token, probability}]; generated: {tokens, text}.
    Notes
        The sentence is tokenised, cut and framed by the reader (`dataset_reader.tokenizer` and
        `.framing`), exactly as in training: a sentence longer than the reader's `max_sequence_length`
        is cut to it (`tokens` shows what was kept), and the start/end tokens are the reader's (a
        contiguous reader's end-of-line token is an end token).
        Padding, the OOV token, start tokens and the tokenizer's special tokens other than end tokens are
        never proposed as next tokens or generated. The generated text is the tokenizer's `detokenize`.
        Carried hidden state is reset for every batch: a prediction depends only on its own input.
        Scoring gathers each target's log-probability in chunks (`LanguageModel.target_log_probs`),
        never building a (B, T, V) block. Generation advances every continuation of a batch by one
        batched model step per token (`Continuations`); a seeded continuation is the same whatever its
        batch, and `generate_stream` / `continuations()` give it token by token.
    Example
        >>> from lmlab.data import Vocabulary
        >>> from lmlab.data.dataset_readers import DatasetReader
        >>> from lmlab.models import Model
        >>> from lmlab.predictors import Predictor
        >>> reader = DatasetReader.from_params({"type": "simple_language_modeling", "start_tokens": ["<s>"],
        ...                                     "end_tokens": ["</s>"]})
        >>> vocab = Vocabulary.from_instances([reader.text_to_instance("the cat sat on the mat")])
        >>> model = Model.from_params({"type": "language_model", "contextualizer": {
        ...     "type": "lstm", "input_size": 8, "hidden_size": 8}, "text_field_embedder": {
        ...     "token_embedders": {"tokens": {"type": "embedding", "embedding_dim": 8}}}}, vocab=vocab)
        >>> predictor = Predictor.by_name("language_model")(model.eval(), reader)  # or from_archive
        >>> result = predictor.predict_json({"sentence": "the cat"})
        >>> sorted(result), result["tokens"]
        (['log_probability', 'next_tokens', 'perplexity', 'scored_tokens', 'tokens'], ['the', 'cat'])
    """

    model: LanguageModel

    def __init__(self, model: LanguageModel, dataset_reader: DatasetReader, max_tokens: int = 512,
                 incremental: bool = True, max_chars: int = MAX_CHARS) -> None:
        if not isinstance(model, LanguageModel):
            raise ConfigurationError(f"the language_model predictor needs a language_model, found "
                                     f"{type(model).__name__}", "predictor")
        super().__init__(model, dataset_reader)
        self.max_tokens = max_tokens
        self.max_chars = max_chars
        self.incremental = incremental
        self.framing = dataset_reader.framing
        vocab, namespace = model.vocab, model.target_namespace
        self.namespace = namespace
        # a padded namespace's padding and OOV; a pretrained tokenizer's special tokens, but for end tokens
        # (choosing one ends a continuation, as GPT-2's "<|endoftext|>" does)
        banned = {0, vocab.get_token_index(vocab.oov_token, namespace)} if vocab.is_padded(namespace) else set()
        banned.update(vocab.get_token_index(t, namespace) for t in dataset_reader.tokenizer.special_tokens
                      if t not in self.framing.end_tokens)
        banned.update(vocab.get_token_index(t, namespace) for t in self.framing.start_tokens)
        self._banned = torch.tensor(sorted(banned), dtype=torch.long)

    # --- validation ------------------------------------------------------------------------------
    @overrides
    def validate(self, inputs: JsonDict) -> LanguageModelRequest:
        sentence = require_text(inputs, "sentence", self.max_chars)
        for key in inputs:
            if key not in REQUEST_OPTIONS:
                raise InputError(f'unknown field "{key}"{did_you_mean(key, REQUEST_OPTIONS)}')
        tokens = self.framing.cut(self.dataset_reader.tokenizer.tokenize(sentence))
        if not tokens:
            raise InputError('"sentence" has no tokens')
        prefix = [*self.framing.start_tokens, *self.framing.ordered(tokens)]
        full = [*prefix, *self.framing.end_tokens]  # = self.framing.frame(tokens)
        generate = _generate_options(inputs.get("generate"))
        extra = generate["max_tokens"] if generate else 0
        if len(full) + extra > self.max_tokens:
            raise InputError(f"input too long: {len(full)} tokens (+{extra} to generate) > max_tokens "
                             f"{self.max_tokens}")
        top_k = bounded_int(inputs.get("top_k", 5), "top_k", 1, MAX_TOP_K)
        flags = {}
        for name in ("score", "next_token"):
            flags[name] = inputs.get(name, True)
            if not isinstance(flags[name], bool):
                raise InputError(f'"{name}" must be true or false, found {shown(flags[name])}')
        return LanguageModelRequest(tokens, prefix, full, top_k, flags["score"], flags["next_token"], generate)

    @overrides
    def tokens_to_generate(self, request: LanguageModelRequest) -> int:
        return request.generate["max_tokens"] if request.generate else 0

    # --- prediction ------------------------------------------------------------------------------
    @overrides
    def predict_requests(self, requests: List[LanguageModelRequest]) -> List[JsonDict]:
        outputs: List[JsonDict] = [{"tokens": request.tokens} for request in requests]
        if any(request.score or request.next_token for request in requests):
            with torch.inference_mode():
                self._score_and_rank(requests, outputs)
        generating = [i for i, request in enumerate(requests) if request.generate]
        if generating:
            continuations = self._generate([requests[i] for i in generating])
            for i, tokens in zip(generating, continuations, strict=True):
                outputs[i]["generated"] = {"tokens": tokens, "text": self.detokenize(tokens)}
        return outputs

    def _score_and_rank(self, requests: List[LanguageModelRequest], outputs: List[JsonDict]) -> None:
        """Add the sentence scores and next-token candidates that `requests` ask for to `outputs`, from one
        pass over the framed sentences; no (B, T, V) block is built (`LanguageModel.target_log_probs`).
        The next-token distribution (after the prefix) of a ranked request is also the one that scores its
        first end token: it is projected once, for both."""
        source = self.text_field([request.full for request in requests])
        self.model.reset_states()
        _, contextual, mask = self.model.contextualize(source)  # no loss: only what is asked is projected
        top = contextual[-1] if contextual.dim() == 4 else contextual  # (B, T, H)
        embeddings = self.model.forward_direction_embeddings(top)  # (B, T, H)
        device = embeddings.device
        ranked = [i for i, request in enumerate(requests) if request.next_token]
        rows = torch.tensor(ranked, dtype=torch.long, device=device)  # (K,)
        last = torch.tensor([len(requests[i].prefix) - 1 for i in ranked], dtype=torch.long, device=device)  # (K,)
        next_log_probs = self.model.log_probs(embeddings[rows, last]) if ranked else None  # (K, V)
        if any(request.score for request in requests):
            wanted = torch.tensor([request.score for request in requests], device=device)  # (B,)
            ids = get_token_ids(source)  # (B, T): the targets, as in training
            scored = mask[:, 1:] & wanted.unsqueeze(1)  # (B, T - 1): position t predicts token t + 1
            # ranked and scored rows with an end token: its log-probability is in next_log_probs already
            shared = torch.tensor([k for k, i in enumerate(ranked) if requests[i].score
                                   and len(requests[i].full) > len(requests[i].prefix)], dtype=torch.long,
                                  device=device)  # (K',)
            shared_rows, shared_last = rows[shared], last[shared]  # (K',)
            scored[shared_rows, shared_last] = False
            log_probs = self.model.target_log_probs(embeddings[:, :-1][scored], ids[:, 1:][scored])  # (N,)
            positions = torch.arange(len(requests), device=device).unsqueeze(1).expand_as(scored)[scored]  # (N,)
            totals = torch.zeros(len(requests), dtype=torch.float64, device=device).index_add_(
                0, positions, log_probs.double())
            if next_log_probs is not None:
                end_tokens = ids[shared_rows, shared_last + 1].unsqueeze(1)  # (K', 1)
                totals.index_add_(0, shared_rows, next_log_probs[shared].gather(1, end_tokens).squeeze(1).double())
            for request, output, total in zip(requests, outputs, totals.tolist(), strict=True):  # one sync
                if request.score:
                    count = len(request.full) - 1
                    output.update(log_probability=total, scored_tokens=count,
                                  perplexity=math.exp(-total / max(count, 1)))
        if next_log_probs is not None:
            next_log_probs[:, self._banned.to(device)] = -math.inf
            values, indices = next_log_probs.topk(min(max(requests[i].top_k for i in ranked),
                                                      next_log_probs.shape[1]))
            for i, row_values, row_indices in zip(ranked, values.tolist(), indices.tolist(), strict=True):
                top_k = requests[i].top_k  # banned ids (at -inf) come last: a top_k beyond the others omits them
                outputs[i]["next_tokens"] = [{"token": self._token(index), "probability": math.exp(value)}
                                             for value, index in zip(row_values[:top_k], row_indices[:top_k],
                                                                     strict=True) if value > -math.inf]

    @overrides
    def detokenize(self, tokens: List[str]) -> str:
        """The text of generated `tokens` (`Tokenizer.detokenize` of the reader's tokenizer: sub-word pieces
        joined back into words)."""
        return self.dataset_reader.tokenizer.detokenize(tokens)

    def _token(self, index: int) -> str:
        return self.model.vocab.get_token_from_index(index, self.namespace)

    def text_field(self, sequences: List[List[str]]) -> TextFieldTensors:
        """Token lists indexed and padded by the reader's indexers, as in training, on the model's device."""
        indexers = self.dataset_reader.token_indexers
        instances = [Instance({"source": TextField(tokens, indexers)}) for tokens in sequences]
        for instance in instances:
            instance.index_fields(self.model.vocab)
        return move_to_device(Batch(instances).as_tensor_dict(), self.model.device())["source"]

    def _token_field(self, tokens: List[str]) -> TextFieldTensors:
        """One token per row, (B, 1, ...): each indexer indexes the B tokens as one sequence (so no instance
        per row), whose positions then become the rows."""
        field: TextFieldTensors = {}
        for name, indexer in self.dataset_reader.token_indexers.items():
            start = len(indexer.start_tokens)  # an indexer's own start tokens come before the B positions
            arrays = indexer.tokens_to_indices(tokens, self.model.vocab)
            field[name] = {key: torch.as_tensor(array[start:start + len(tokens)], dtype=torch.long).unsqueeze(1)
                           for key, array in arrays.items()}
        return move_to_device(field, self.model.device())

    # --- generation ------------------------------------------------------------------------------
    def continuations(self) -> Continuations:
        """An empty running batch of continuations with this predictor's model, vocabulary and end tokens."""
        return Continuations(self.model, self.text_field, self._token_field, self._banned, self.framing.end_tokens,
                             self.namespace, rerun=not self.incremental)

    def generate_stream(self, requests: List[LanguageModelRequest]) -> Iterator[List[Optional[str]]]:
        """The continuations of `requests` (each with `generate` options), one batched model step at a time.

        Each iteration yields, for every request in order, its next token, or None once it has finished
        (it chose an end token, which is not yielded, or made `max_tokens` tokens); it stops when all
        have. A seeded request's tokens are those of the same request alone, or in `predict_requests`.
        """
        missing = [i for i, request in enumerate(requests) if not request.generate]
        if missing:
            raise ValueError(f"requests {missing} have no generate options")
        running = self.continuations()
        ids = running.add([request.prefix for request in requests],
                          [cast(Dict[str, Any], request.generate) for request in requests])
        while len(running):
            tokens = running.step()
            yield [tokens.get(row_id) for row_id in ids]

    def _generate(self, requests: List[LanguageModelRequest]) -> List[List[str]]:
        """Each request's whole continuation (`generate_stream` to the end)."""
        generated: List[List[str]] = [[] for _ in requests]
        for step in self.generate_stream(requests):
            for tokens, token in zip(generated, step, strict=True):
                if token is not None:
                    tokens.append(token)
        return generated


def _generate_options(value: Any) -> Optional[Dict[str, Any]]:
    if value is None or value is False:
        return None
    if value is True:
        value = {}
    if not isinstance(value, dict):
        raise InputError(f'"generate" must be an object, found {type(value).__name__}')
    for key in value:
        if key not in GENERATE_OPTIONS:
            raise InputError(f'unknown "generate" option "{key}"{did_you_mean(key, GENERATE_OPTIONS)}')
    options = {**GENERATE_OPTIONS, **value}
    number = (int, float)
    checks = {
        "max_tokens": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
        "greedy": lambda v: isinstance(v, bool),
        "temperature": lambda v: isinstance(v, number) and not isinstance(v, bool)
        and TEMPERATURES[0] <= v <= TEMPERATURES[1],
        "top_k": lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_TOP_K),
        "top_p": lambda v: v is None or (isinstance(v, number) and not isinstance(v, bool) and 0 < v <= 1),
        "seed": lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_SEED),
    }
    ranges = {"max_tokens": "an integer >= 1", "greedy": "true or false",
              "temperature": f"a number from {TEMPERATURES[0]} to {TEMPERATURES[1]:g}",
              "top_k": f"null or an integer from 1 to {MAX_TOP_K}", "top_p": "null or a number in (0, 1]",
              "seed": "null or an integer from 0 to 2**64 - 1"}
    for key, check in checks.items():
        if not check(options[key]):  # NaN fails every comparison; a huge int compares exactly
            raise InputError(f'"generate.{key}" must be {ranges[key]}, found {shown(options[key])}')
    return options
