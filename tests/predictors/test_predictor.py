"""The `Predictor` base: JSON batches with per-input errors, and choosing a predictor for an archive."""
from typing import Any, Dict, List

import pytest

from lmlab.common import ConfigurationError, InputError
from lmlab.data import SimpleLanguageModelingDatasetReader, Vocabulary
from lmlab.models import Model
from lmlab.models.archival import Archive
from lmlab.predictors import LanguageModelPredictor, Predictor


class Echo(Predictor[str]):
    """Answers {"text": ...} with its length; not registered."""

    def validate(self, inputs: Dict[str, Any]) -> str:
        if not isinstance(inputs.get("text"), str):
            raise InputError('missing "text"')
        return inputs["text"]

    def predict_requests(self, requests: List[str]) -> List[Dict[str, Any]]:
        return [{"length": len(text), "batch": len(requests)} for text in requests]


class Plain(Model):
    """A model that names no predictor; not registered."""

    def forward(self, *inputs: Any, **kwargs: Any) -> Dict[str, Any]:
        return {}


def test_invalid_inputs_get_errors_in_place_and_the_rest_run_in_one_batch():
    predictor = Echo(Plain(Vocabulary()), SimpleLanguageModelingDatasetReader())
    outputs = predictor.predict_batch_json([{"text": "ab"}, {"txt": "x"}, {"text": "abcd"}])
    assert outputs == [{"length": 2, "batch": 2}, {"error": 'missing "text"'}, {"length": 4, "batch": 2}]
    with pytest.raises(InputError, match='missing "text"'):
        predictor.predict_json({})


def test_the_archive_models_default_predictor_is_used_unless_one_is_named():
    vocab = Vocabulary(counter={"tokens": {"a": 1}})
    reader = SimpleLanguageModelingDatasetReader()
    language_model = Model.from_params({
        "type": "language_model",
        "text_field_embedder": {"token_embedders": {"tokens": {"type": "embedding", "embedding_dim": 4}}},
        "contextualizer": {"type": "lstm", "input_size": 4, "hidden_size": 4},
    }, vocab=vocab)
    assert Model.default_predictor is None and language_model.default_predictor == "language_model"
    chosen = Predictor.from_archive(Archive(language_model, {}, reader, reader))
    assert isinstance(chosen, LanguageModelPredictor) and chosen.model is language_model
    plain = Archive(Plain(vocab), {}, reader, reader)
    with pytest.raises(InputError, match="Plain has no default predictor; pass --predictor"):
        Predictor.from_archive(plain)
    with pytest.raises(ConfigurationError, match="the language_model predictor needs a language_model, found Plain"):
        Predictor.from_archive(plain, "language_model")  # a named predictor is used, and checks its model
