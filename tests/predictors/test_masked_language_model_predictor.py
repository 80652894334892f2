"""The masked_language_model predictor (named apart from tests/models/test_masked_language_model.py because
pytest imports test files by basename)."""
import pytest
import torch

from lmlab.common import ConfigurationError, InputError
from lmlab.data import MaskedLanguageModelingReader, Vocabulary
from lmlab.models import Model
from lmlab.predictors import MaskedLanguageModelPredictor, Predictor

WORDS = ["the", "cat", "sat", "on", "mat", "dog", ".", "a"]


def make_model(vocab):
    torch.manual_seed(0)
    return Model.from_params({
        "type": "masked_language_model",
        "text_field_embedder": {"token_embedders": {"tokens": {"type": "embedding", "embedding_dim": 4}}},
        "contextualizer": {"type": "lstm", "input_size": 4, "hidden_size": 3, "bidirectional": True},
        "language_model_head": {"type": "linear", "input_dim": 6},
    }, vocab=vocab)


@pytest.fixture(scope="module")
def predictor():
    vocab = Vocabulary(counter={"tokens": {word: 1 for word in WORDS + ["[MASK]"]}})
    reader = MaskedLanguageModelingReader(max_sequence_length=12)
    return Predictor.by_name("masked_language_model")(make_model(vocab), reader)


def test_fillers_format_and_order(predictor):
    assert isinstance(predictor, MaskedLanguageModelPredictor)
    output = predictor.predict_json({"sentence": "the [MASK] sat on the [MASK] .", "top_k": 3})
    assert output["tokens"] == ["the", "[MASK]", "sat", "on", "the", "[MASK]", "."]
    assert output["mask_positions"] == [1, 5]
    assert len(output["fillers"]) == 2
    for fillers in output["fillers"]:
        assert len(fillers) == 3 and all(set(f) == {"token", "probability"} for f in fillers)
        probabilities = [f["probability"] for f in fillers]
        assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) < 1
        assert not {f["token"] for f in fillers} & {"[MASK]", "@@UNKNOWN@@", "@@PADDING@@"}
    assert len(predictor.predict_json({"sentence": "[MASK] cat"})["fillers"][0]) == 5  # default top_k


@pytest.mark.cross_path
def test_batched_predictions_equal_single_ones(predictor):
    inputs = [{"sentence": "the [MASK] sat on the mat ."}, {"sentence": "a [MASK]", "top_k": 2},
              {"sentence": "[MASK] dog sat on a [MASK] [MASK] .", "top_k": 4}]
    batched = predictor.predict_batch_json(inputs)
    for item, output in zip(inputs, batched, strict=False):
        single = predictor.predict_json(item)
        assert output["mask_positions"] == single["mask_positions"]
        for mask_b, mask_s in zip(output["fillers"], single["fillers"], strict=False):
            assert [f["token"] for f in mask_b] == [f["token"] for f in mask_s]
            # softmax of logits from matmuls of another batch shape: float32 rounding, ~1e-7 relative
            assert [f["probability"] for f in mask_b] == pytest.approx([f["probability"] for f in mask_s], rel=1e-5)
    assert [len(m) for m in batched[2]["fillers"]] == [4, 4, 4]


def test_bad_inputs_get_per_line_errors(predictor):
    inputs = [{"sentence": "the cat sat"}, {"sentence": "the [MASK]", "topk": 2},
              {"sentence": " ".join(["cat"] * 12) + " [MASK]"}, {"sentence": "the [MASK]", "top_k": 0},
              {"sentence": "  "}, ["not", "an", "object"], {"sentence": "the [MASK] sat ."}]
    outputs = predictor.predict_batch_json(inputs)
    assert outputs[0] == {"error": 'no "[MASK]" in "sentence"'}
    assert outputs[1] == {"error": 'unknown field "topk"; did you mean "top_k"?'}
    assert outputs[2] == {"error": "input too long: 13 tokens > max_tokens 12"}
    assert outputs[3] == {"error": '"top_k" must be a positive integer, found 0'}
    assert outputs[4] == {"error": 'empty "sentence"'}
    assert "expected a JSON object" in outputs[5]["error"]
    assert outputs[6]["mask_positions"] == [1]
    with pytest.raises(InputError, match='no "\\[MASK\\]" in "sentence"'):
        predictor.predict_json({"sentence": "no mask"})


def test_the_readers_mask_token_is_used():
    vocab = Vocabulary(counter={"tokens": {word: 1 for word in WORDS + ["<mask>"]}})
    predictor = MaskedLanguageModelPredictor(make_model(vocab), MaskedLanguageModelingReader(mask_token="<mask>"))
    output = predictor.predict_json({"sentence": "the <mask> sat", "top_k": 20})
    assert output["mask_positions"] == [1]
    assert "<mask>" not in {f["token"] for f in output["fillers"][0]}
    assert predictor.predict_batch_json([{"sentence": "the [MASK] sat"}]) == [{"error": 'no "<mask>" in "sentence"'}]


def test_needs_a_masked_language_model():
    vocab = Vocabulary(counter={"tokens": {word: 1 for word in WORDS}})
    lm = Model.from_params({
        "type": "language_model",
        "text_field_embedder": {"token_embedders": {"tokens": {"type": "embedding", "embedding_dim": 4}}},
        "contextualizer": {"type": "lstm", "input_size": 4, "hidden_size": 3},
    }, vocab=vocab)
    with pytest.raises(ConfigurationError, match="needs a masked_language_model"):
        MaskedLanguageModelPredictor(lm, MaskedLanguageModelingReader())
