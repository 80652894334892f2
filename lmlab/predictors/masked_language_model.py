"""`masked_language_model` predictor: the most probable fillers for each "[MASK]" of a sentence."""
from dataclasses import dataclass
from typing import List

import torch
from overrides import overrides

from lmlab.common.errors import ConfigurationError, InputError, did_you_mean
from lmlab.data.batch import Batch
from lmlab.data.data_loaders.data_loader import move_to_device
from lmlab.data.dataset_readers.dataset_reader import DatasetReader
from lmlab.data.dataset_readers.masked_language_modeling import MaskedLanguageModelingReader
from lmlab.data.instance import Instance
from lmlab.models.masked_language_model import MaskedLanguageModel
from lmlab.predictors.predictor import JsonDict, Predictor, require_text

REQUEST_OPTIONS = ("sentence", "top_k")


@dataclass
class MaskedLanguageModelRequest:
    instance: Instance         # built by the reader's text_to_instance, as in training
    tokens: List[str]          # the sentence's tokens, mask tokens included
    mask_positions: List[int]  # where the mask tokens are, ascending
    top_k: int = 5


@Predictor.register("masked_language_model")
class MaskedLanguageModelPredictor(Predictor[MaskedLanguageModelRequest]):
    """Fills the masks of sentences with a `masked_language_model`.

    Registered as a `Predictor` with name "masked_language_model".

    Parameters
        model: MaskedLanguageModel, dataset_reader: MaskedLanguageModelingReader   given at run time; the
            reader tokenises exactly as in training and names the mask token.
        max_tokens: int = 512   longest sentence accepted (also the reader's max_sequence_length if set:
            the reader would cut a longer sentence, and maybe its masks, as it does in training).
    Inputs (one JSON object per line)
        sentence: str (required), with at least one mask token ("[MASK]" by default);
        top_k: int = 5, fillers listed per mask.
    Outputs
        tokens: the sentence's tokens; mask_positions: [int], where the masks are;
        fillers: one list per mask, in order, of top_k {"token", "probability"}, most probable first.
    Notes
        Errors (per input line): no mask token, unknown field (with a did-you-mean), too many tokens,
        a bad top_k. Padding, OOV, the mask token itself and the tokenizer's special tokens are never
        proposed. Requests are run in one batch; a sentence's fillers do not depend on the others in its batch.
    """

    model: MaskedLanguageModel
    dataset_reader: MaskedLanguageModelingReader

    def __init__(self, model: MaskedLanguageModel, dataset_reader: DatasetReader, max_tokens: int = 512) -> None:
        if not isinstance(model, MaskedLanguageModel):
            raise ConfigurationError(f"the masked_language_model predictor needs a masked_language_model, found "
                                     f"{type(model).__name__}", "predictor")
        if not isinstance(dataset_reader, MaskedLanguageModelingReader):
            raise ConfigurationError(f"the masked_language_model predictor needs a masked_language_modeling "
                                     f"reader, found {type(dataset_reader).__name__}", "validation_dataset_reader")
        super().__init__(model, dataset_reader)
        reader_limit = dataset_reader.framing.max_length
        self.max_tokens = max_tokens if reader_limit is None else min(max_tokens, reader_limit)
        self.mask_token = dataset_reader.mask_token

    @overrides
    def validate(self, inputs: JsonDict) -> MaskedLanguageModelRequest:
        sentence = require_text(inputs, "sentence")
        for key in inputs:
            if key not in REQUEST_OPTIONS:
                raise InputError(f'unknown field "{key}"{did_you_mean(key, REQUEST_OPTIONS)}')
        top_k = inputs.get("top_k", 5)
        if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
            raise InputError(f'"top_k" must be a positive integer, found {top_k!r}')
        if self.mask_token not in sentence:
            raise InputError(f'no "{self.mask_token}" in "sentence"')
        # count first: the reader would silently cut a long sentence (and maybe its masks) to its limit
        pieces = sentence.split(self.mask_token)
        length = len(pieces) - 1 + sum(len(self.dataset_reader.tokenizer.tokenize(piece))
                                       for piece in pieces if piece.strip())
        if length > self.max_tokens:
            raise InputError(f"input too long: {length} tokens > max_tokens {self.max_tokens}")
        instance = self.dataset_reader.text_to_instance(sentence)
        tokens = list(instance["metadata"]["masked_tokens"])
        positions = [int(p) for p in instance["mask_positions"].array]
        return MaskedLanguageModelRequest(instance, tokens, positions, top_k)

    @overrides
    def predict_requests(self, requests: List[MaskedLanguageModelRequest]) -> List[JsonDict]:
        model = self.model
        instances = [request.instance for request in requests]
        for instance in instances:
            instance.index_fields(model.vocab)
        batch = move_to_device(Batch(instances).as_tensor_dict(), model.device())
        with torch.inference_mode():
            output = model.decode(model(**batch), top_k=max(request.top_k for request in requests),
                                  exclude=[self.mask_token, *self.dataset_reader.tokenizer.special_tokens])
        outputs = []
        for request, words in zip(requests, output["words"], strict=True):
            fillers = [[{"token": token, "probability": probability} for token, probability in mask[:request.top_k]]
                       for mask in words]
            outputs.append({"tokens": request.tokens, "mask_positions": request.mask_positions, "fillers": fillers})
        return outputs
