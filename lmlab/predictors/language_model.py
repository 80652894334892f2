"""`language_model` predictor: next-token top-k, sentence scores and text continuation."""
import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import torch
from overrides import overrides

from lmlab.common.errors import ConfigurationError, InputError, did_you_mean
from lmlab.data.batch import Batch
from lmlab.data.data_loaders import move_to_device
from lmlab.data.dataset_readers.dataset_reader import DatasetReader
from lmlab.data.fields.text_field import TextField
from lmlab.data.instance import Instance
from lmlab.models.language_model import LanguageModel
from lmlab.predictors.predictor import JsonDict, Predictor, require_text

GENERATE_OPTIONS = {"max_tokens": 20, "greedy": False, "temperature": 1.0, "top_k": None, "top_p": None, "seed": None}
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

    Inputs (one JSON object per line)
        sentence: str (required); top_k: int = 5 next-token candidates; score: bool = true;
        next_token: bool = true; generate: object, optional, with max_tokens (20), greedy (false),
        temperature (1.0), top_k, top_p, seed — continue the sentence by sampling.
    Outputs
        tokens: the sentence's tokens as the model saw them; log_probability (natural log, of every token
        after the first including end tokens) and perplexity with scored_tokens; next_tokens:
        [{token, probability}]; generated: {tokens, text}.
    Notes
        The sentence is tokenised, cut and framed by the reader (`dataset_reader.tokenizer` and
        `.framing`), exactly as in training: a sentence longer than the reader's `max_sequence_length`
        is cut to it (`tokens` shows what was kept), and the start/end tokens are the reader's (a
        contiguous reader's end-of-line token is an end token).
        Padding, the OOV token and start tokens are never proposed as next tokens or generated.
        Carried hidden state is reset for every batch: a prediction depends only on its own input.
    """

    model: LanguageModel

    def __init__(self, model: LanguageModel, dataset_reader: DatasetReader, max_tokens: int = 512) -> None:
        if not isinstance(model, LanguageModel):
            raise ConfigurationError(f"the language_model predictor needs a language_model, found "
                                     f"{type(model).__name__}", "predictor")
        super().__init__(model, dataset_reader)
        self.max_tokens = max_tokens
        self.framing = dataset_reader.framing
        vocab, namespace = model.vocab, model.target_namespace
        self.namespace = namespace
        banned = {0, vocab.get_token_index(vocab.oov_token, namespace) if vocab.is_padded(namespace) else 0}
        banned.update(vocab.get_token_index(t, namespace) for t in self.framing.start_tokens)
        self._banned = torch.tensor(sorted(banned), dtype=torch.long)

    # --- validation ------------------------------------------------------------------------------
    @overrides
    def validate(self, inputs: JsonDict) -> LanguageModelRequest:
        sentence = require_text(inputs, "sentence")
        for key in inputs:
            if key not in REQUEST_OPTIONS:
                raise InputError(f'unknown field "{key}"{did_you_mean(key, REQUEST_OPTIONS)}')
        tokens = self.framing.cut(self.dataset_reader.tokenizer.tokenize(sentence))
        if not tokens:
            raise InputError('"sentence" has no tokens')
        prefix = [*self.framing.start_tokens, *tokens]
        full = [*prefix, *self.framing.end_tokens]  # = self.framing.frame(tokens)
        generate = _generate_options(inputs.get("generate"))
        extra = generate["max_tokens"] if generate else 0
        if len(full) + extra > self.max_tokens:
            raise InputError(f"input too long: {len(full)} tokens (+{extra} to generate) > max_tokens "
                             f"{self.max_tokens}")
        top_k = inputs.get("top_k", 5)
        if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
            raise InputError(f'"top_k" must be a positive integer, found {top_k!r}')
        flags = {}
        for name in ("score", "next_token"):
            flags[name] = inputs.get(name, True)
            if not isinstance(flags[name], bool):
                raise InputError(f'"{name}" must be true or false, found {flags[name]!r}')
        return LanguageModelRequest(tokens, prefix, full, top_k, flags["score"], flags["next_token"], generate)

    # --- prediction ------------------------------------------------------------------------------
    @overrides
    def predict_requests(self, requests: List[LanguageModelRequest]) -> List[JsonDict]:
        outputs: List[JsonDict] = [{"tokens": request.tokens} for request in requests]
        with torch.inference_mode():
            log_probs = self._log_probs([request.full for request in requests])  # (B, T, V)
            for row, (request, output) in enumerate(zip(requests, outputs, strict=True)):
                if request.score:
                    ids = self._ids(request.full).to(log_probs.device)  # (T_row,)
                    scores = log_probs[row, torch.arange(len(ids) - 1), ids[1:]]
                    total = float(scores.sum())
                    output.update(log_probability=total, scored_tokens=len(ids) - 1,
                                  perplexity=math.exp(-total / max(len(ids) - 1, 1)))
                if request.next_token:
                    last = log_probs[row, len(request.prefix) - 1].clone()
                    last[self._banned.to(last.device)] = -math.inf
                    values, indices = last.topk(min(request.top_k, last.numel()))
                    output["next_tokens"] = [
                        {"token": self._token(i), "probability": math.exp(v)}
                        for v, i in zip(values.tolist(), indices.tolist(), strict=True)]
            generating = [(i, request.prefix, request.generate) for i, request in enumerate(requests)
                          if request.generate]
            if generating:
                continuations = self._generate([prefix for _, prefix, _ in generating],
                                               [options for _, _, options in generating])
                for (i, _, _), tokens in zip(generating, continuations, strict=True):
                    outputs[i]["generated"] = {"tokens": tokens, "text": " ".join(tokens)}
        return outputs

    def _ids(self, tokens: List[str]) -> torch.Tensor:
        return torch.as_tensor(self.model.vocab.get_token_indices(tokens, self.namespace), dtype=torch.long)

    def _token(self, index: int) -> str:
        return self.model.vocab.get_token_from_index(index, self.namespace)

    def _log_probs(self, sequences: List[List[str]], last_only: bool = False) -> torch.Tensor:
        """Forward-direction log-probabilities (B, T, V), or (B, V) at each row's last token."""
        indexers = self.dataset_reader.token_indexers
        instances = [Instance({"source": TextField(tokens, indexers)}) for tokens in sequences]
        for instance in instances:
            instance.index_fields(self.model.vocab)
        batch = move_to_device(Batch(instances).as_tensor_dict(), self.model.device())
        self.model.reset_states()
        _, contextual, _ = self.model.contextualize(batch["source"])  # no loss: only what is asked is projected
        embeddings = contextual[-1] if contextual.dim() == 4 else contextual  # (B, T, H)
        embeddings = self.model.forward_direction_embeddings(embeddings)
        if last_only:  # project only the last position to the vocabulary
            lengths = torch.tensor([len(tokens) for tokens in sequences], device=embeddings.device)  # (B,)
            embeddings = embeddings[torch.arange(len(sequences), device=embeddings.device), lengths - 1]  # (B, H)
        return self.model.log_probs(embeddings)

    def _generate(self, prefixes: List[List[str]], options: List[Dict[str, Any]]) -> List[List[str]]:
        """Continue each prefix with the tokens chosen as its `generate` options say, until an end token."""
        sequences = [list(prefix) for prefix in prefixes]
        generated: List[List[str]] = [[] for _ in prefixes]
        generators = [None if option["seed"] is None else torch.Generator().manual_seed(option["seed"])
                      for option in options]
        stop = set(self.framing.end_tokens)
        active = list(range(len(prefixes)))
        for _ in range(max(option["max_tokens"] for option in options)):
            active = [i for i in active if len(generated[i]) < options[i]["max_tokens"]]
            if not active:
                break
            log_probs = self._log_probs([sequences[i] for i in active], last_only=True)  # (A, V)
            log_probs = log_probs.float().cpu()
            log_probs[:, self._banned] = -math.inf
            still_active = []
            for row, i in enumerate(active):
                token = self._token(_choose(log_probs[row], options[i], generators[i]))
                sequences[i].append(token)
                if token in stop:
                    continue
                generated[i].append(token)
                still_active.append(i)
            active = still_active
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
    checks = {
        "max_tokens": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
        "greedy": lambda v: isinstance(v, bool),
        "temperature": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0,
        "top_k": lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 1),
        "top_p": lambda v: v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1),
        "seed": lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool)),
    }
    for key, check in checks.items():
        if not check(options[key]):
            raise InputError(f'"generate.{key}" has an invalid value {options[key]!r}')
    return options


def _choose(log_probs: torch.Tensor, options: Dict[str, Any], generator: Optional[torch.Generator]) -> int:
    """Pick the next id from (V,) log-probabilities: greedy, or sampled with temperature/top-k/top-p."""
    if options["greedy"]:
        return int(log_probs.argmax())
    logits = log_probs / options["temperature"]
    if options["top_k"]:
        kth = logits.topk(min(options["top_k"], logits.numel())).values[-1]
        logits = logits.masked_fill(logits < kth, -math.inf)
    if options["top_p"] is not None and options["top_p"] < 1:
        sorted_logits, order = logits.sort(descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        remove = cumulative - sorted_logits.softmax(-1) >= options["top_p"]  # keep the smallest set reaching p
        logits = logits.masked_fill(torch.zeros_like(remove).scatter(0, order, remove), -math.inf)
    probabilities = logits.softmax(-1)
    return int(torch.multinomial(probabilities, 1, generator=generator))
