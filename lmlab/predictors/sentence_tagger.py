"""`sentence_tagger` predictor: tags and chunks (spans) of sentences, from a "crf_tagger"."""
import math
from dataclasses import dataclass
from typing import List

import torch
from overrides import overrides

from lmlab.common.errors import ConfigurationError, InputError, did_you_mean
from lmlab.data.batch import Batch
from lmlab.data.data_loaders import move_to_device
from lmlab.data.dataset_readers.dataset_reader import DatasetReader
from lmlab.data.instance import Instance
from lmlab.models.crf_tagger import CrfTagger
from lmlab.predictors.predictor import MAX_CHARS, JsonDict, Predictor, require_text

REQUEST_FIELDS = ("sentence", "tokens")


@dataclass
class TaggingRequest:
    tokens: List[str]    # the sentence's tokens, as the reader would have split them
    instance: Instance   # built by the reader's text_to_instance, as in training


@Predictor.register("sentence_tagger")
class SentenceTaggerPredictor(Predictor[TaggingRequest]):
    """Tags sentences with a `crf_tagger` and lists their chunks.

    Registered as a `Predictor` with name "sentence_tagger".

    Parameters
        model: CrfTagger, dataset_reader: DatasetReader   given at run time; the reader (e.g. "conll") builds
            the instance of a token list and its `tokenizer` splits a "sentence".
        max_tokens: int = 512   longest sentence accepted.
        max_chars: int = 100000   longest "sentence" accepted, in characters (checked before tokenising).
        max_token_chars: int = 100   longest token accepted, in characters: a character encoder pads every
            word of a batch to its longest, so one 5,000-character word would slow its batch companions 300x.
    Inputs (one JSON object per line)
        either sentence: str (split by the reader's tokenizer) or tokens: [str, ...] (already split).
    Outputs
        tokens: [str]; tags: [str], one label per token; spans: [{"label", "start", "end", "text"}] for every
        chunk, `end` exclusive, `text` the chunk's tokens joined by spaces (spans need the model's
        `label_encoding`; without one the list is empty). With the model's `top_k`: top_k: [{"tags",
        "score"}], the k best tag sequences, best first; a sentence with fewer than k allowed tag sequences
        (one token under BIOES has only the single-token chunks and O) lists only those, so every score
        is finite.
    Notes
        Errors (per input line): neither or both of "sentence" and "tokens", an unknown field (with a
        did-you-mean), an empty sentence or token, a token that is not a string, too many tokens or
        characters, a token over max_token_chars. Requests
        are run in one batch; a sentence's tags do not depend on the others in its batch.
    Example
        >>> from lmlab.data import Vocabulary
        >>> from lmlab.data.dataset_readers import DatasetReader
        >>> from lmlab.models import Model
        >>> from lmlab.predictors import Predictor
        >>> reader = DatasetReader.from_params({"type": "conll", "num_columns": 2})
        >>> vocab = Vocabulary.from_instances([reader.text_to_instance(["He", "ran"], ["B-NP", "B-VP"])])
        >>> tagger = Model.from_params({"type": "crf_tagger", "label_encoding": "BIO", "text_field_embedder": {
        ...     "token_embedders": {"tokens": {"type": "embedding", "embedding_dim": 8}}}}, vocab=vocab)
        >>> predictor = Predictor.by_name("sentence_tagger")(tagger.eval(), reader)  # or from_archive
        >>> result = predictor.predict_json({"sentence": "He sat"})
        >>> result["tokens"], len(result["tags"]), sorted(result)
        (['He', 'sat'], 2, ['spans', 'tags', 'tokens'])
    """

    model: CrfTagger

    def __init__(self, model: CrfTagger, dataset_reader: DatasetReader, max_tokens: int = 512,
                 max_chars: int = MAX_CHARS, max_token_chars: int = 100) -> None:
        if not isinstance(model, CrfTagger):
            raise ConfigurationError(f"the sentence_tagger predictor needs a crf_tagger, found {type(model).__name__}",
                                     "predictor")
        super().__init__(model, dataset_reader)
        self.max_tokens = max_tokens
        self.max_chars = max_chars
        self.max_token_chars = max_token_chars

    @overrides
    def validate(self, inputs: JsonDict) -> TaggingRequest:
        if not isinstance(inputs, dict):
            raise InputError(f"expected a JSON object, found {type(inputs).__name__}")
        for key in inputs:
            if key not in REQUEST_FIELDS:
                raise InputError(f'unknown field "{key}"{did_you_mean(key, REQUEST_FIELDS)}')
        if ("sentence" in inputs) == ("tokens" in inputs):
            raise InputError('give either "sentence" (a string) or "tokens" (a list of strings)')
        if "sentence" in inputs:
            tokens = self.dataset_reader.tokenizer.tokenize(require_text(inputs, "sentence", self.max_chars))
        else:
            tokens = inputs["tokens"]
            if not isinstance(tokens, list) or not tokens:
                raise InputError('"tokens" must be a non-empty list of strings')
            if len(tokens) > self.max_tokens:  # before looking at each of them
                raise InputError(f"input too long: {len(tokens)} tokens > max_tokens {self.max_tokens}")
            for position, token in enumerate(tokens):
                if not isinstance(token, str) or not token.strip() or token.split() != [token]:
                    raise InputError(f'"tokens"[{position}] must be a non-empty string without spaces, '
                                     f"found {token!r}")
        if len(tokens) > self.max_tokens:
            raise InputError(f"input too long: {len(tokens)} tokens > max_tokens {self.max_tokens}")
        longest = max(range(len(tokens)), key=lambda position: len(tokens[position]))
        if len(tokens[longest]) > self.max_token_chars:
            raise InputError(f"token {longest} has {len(tokens[longest])} characters > max_token_chars "
                             f"{self.max_token_chars}")
        return TaggingRequest(tokens, self.dataset_reader.text_to_instance(tokens))

    @overrides
    def predict_requests(self, requests: List[TaggingRequest]) -> List[JsonDict]:
        instances = [request.instance for request in requests]
        for instance in instances:
            instance.index_fields(self.model.vocab)
        batch = move_to_device(Batch(instances).as_tensor_dict(), self.model.device())
        with torch.inference_mode():
            output = self.model.make_output_human_readable(self.model(**batch))
        spans_per_row = output.get("spans") or [[] for _ in requests]  # no label coding: no spans
        results = []
        for row, (request, spans) in enumerate(zip(requests, spans_per_row, strict=True)):
            result: JsonDict = {
                "tokens": request.tokens, "tags": output["labels"][row],
                "spans": [{"label": label, "start": start, "end": end, "text": " ".join(request.tokens[start:end])}
                          for label, start, end in spans]}
            if "top_k_tags" in output:
                length = len(request.tokens)
                result["top_k"] = [{"tags": [self.model.labels[tag] for tag in tags[:length]], "score": score}
                                   for tags, score in zip(output["top_k_tags"][row].tolist(),
                                                          output["top_k_scores"][row].tolist(), strict=True)
                                   if math.isfinite(score)]  # the CRF's missing paths score -inf
            results.append(result)
        return results
