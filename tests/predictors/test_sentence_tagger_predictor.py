"""sentence_tagger: sentences or tokens in, tags and spans out; per-input errors; batch independence."""
import math
from pathlib import Path

import pytest
import torch

from lmlab.common.errors import ConfigurationError, InputError
from lmlab.common.params import Params, merge_overrides
from lmlab.data import DatasetReader, Vocabulary
from lmlab.data.label_codings import to_spans
from lmlab.models import Model
from lmlab.predictors import SentenceTaggerPredictor

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


@pytest.fixture(scope="module")
def predictor():
    config = Params.from_file(str(FIXTURES / "configs" / "crf_tagger_tiny.jsonnet"),
                              ext_vars={"LMLAB_FIXTURES": str(FIXTURES)}).as_dict()
    reader = DatasetReader.from_params(Params(config["dataset_reader"], "dataset_reader"))
    vocab = Vocabulary.from_instances(reader.read(config["train_data_path"]))
    torch.manual_seed(0)
    model = Model.from_params(Params(merge_overrides(config["model"], {"top_k": 2}), "model"), vocab=vocab)
    return SentenceTaggerPredictor(model, reader, max_tokens=12)


def test_sentence_and_tokens_give_tags_spans_and_top_k(predictor):
    by_sentence = predictor.predict_json({"sentence": "sam walks the dog to the park ."})
    by_tokens = predictor.predict_json({"tokens": "sam walks the dog to the park .".split()})
    assert by_sentence == by_tokens
    tokens, tags = by_sentence["tokens"], by_sentence["tags"]
    assert tokens == "sam walks the dog to the park .".split() and len(tags) == len(tokens)
    assert [(s["label"], s["start"], s["end"]) for s in by_sentence["spans"]] == to_spans(tags, "BIOES")
    assert all(s["text"] == " ".join(tokens[s["start"]:s["end"]]) for s in by_sentence["spans"])
    assert [candidate["tags"] for candidate in by_sentence["top_k"]][0] == tags
    assert by_sentence["top_k"][0]["score"] >= by_sentence["top_k"][1]["score"]


@pytest.mark.cross_path
def test_a_sentence_is_tagged_the_same_alone_and_in_a_batch(predictor):
    inputs = [{"sentence": "the cat sleeps ."}, {"sentence": "anna and tom bake cookies very slowly ."},
              {"tokens": ["it"]}]
    for batched, alone in zip(predictor.predict_batch_json(inputs), map(predictor.predict_json, inputs), strict=True):
        scores = [[candidate.pop("score") for candidate in output["top_k"]] for output in (batched, alone)]
        # tags equal; path scores are sums over the sentence of logits from matmuls of another batch shape,
        # which float32 rounds differently per SIMD kernel (~1e-6)
        assert batched == alone and scores[0] == pytest.approx(scores[1], abs=1e-5)


def test_a_top_k_beyond_the_allowed_tag_sequences_lists_only_those_with_finite_scores(predictor):
    """One token under BIOES has only O and the single-token chunks S-X: top_k 20 lists those, best first,
    instead of padding the list with -inf scores and ill-formed tags."""
    predictor.model.top_k = 20
    try:
        [alone, batched] = [predictor.predict_json({"tokens": ["it"]}),
                            predictor.predict_batch_json([{"tokens": ["it"]}, {"sentence": "the dog ."}])[0]]
    finally:
        predictor.model.top_k = 2
    allowed = sorted((label,) for label in predictor.model.labels if label == "O" or label.startswith("S-"))
    assert 1 < len(allowed) < 20
    for output in (alone, batched):
        assert sorted(tuple(c["tags"]) for c in output["top_k"]) == allowed
        scores = [candidate["score"] for candidate in output["top_k"]]
        assert all(math.isfinite(score) for score in scores) and scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("inputs,message", [
    ({}, 'give either "sentence" (a string) or "tokens" (a list of strings)'),
    ({"sentence": "a", "tokens": ["a"]}, 'give either "sentence"'),
    ({"sentence": "  "}, 'empty "sentence"'),
    ({"tokens": []}, '"tokens" must be a non-empty list of strings'),
    ({"tokens": ["a", 3]}, '"tokens"[1] must be a non-empty string without spaces, found 3'),
    ({"tokens": ["a b"]}, '"tokens"[0] must be a non-empty string without spaces'),
    ({"sentense": "a"}, 'unknown field "sentense"; did you mean "sentence"?'),
    ({"sentence": "a " * 13}, "input too long: 13 tokens > max_tokens 12"),
    (["a"], "expected a JSON object, found list"),
    ({"tokens": ["a", "b" * 101]}, "token 1 has 101 characters > max_token_chars 100"),
    ({"sentence": "a " + "b" * 101}, "token 1 has 101 characters > max_token_chars 100"),
])
def test_bad_inputs_get_their_own_error_and_the_others_are_answered(predictor, inputs, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
                       .replace("]", r"\]").replace("?", r"\?")):
        predictor.predict_json(inputs)
    good, bad = predictor.predict_batch_json([{"sentence": "the dog ."}, inputs])
    assert "tags" in good and message in bad["error"]


def test_needs_a_crf_tagger(predictor):
    with pytest.raises(ConfigurationError, match="needs a crf_tagger"):
        SentenceTaggerPredictor(torch.nn.Linear(1, 1), predictor.dataset_reader)
