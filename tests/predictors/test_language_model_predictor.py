"""The language_model predictor: input framed as in training; scores and next tokens without a (B, T, V) block;
next-token choice for generation (greedy, temperature, top-k and top-p) and option validation."""
import math
from unittest import mock

import pytest
import torch

from lmlab.common import ConfigurationError, InputError
from lmlab.data import Batch, ContiguousLanguageModelingReader, SimpleLanguageModelingDatasetReader, Vocabulary
from lmlab.models import Model
from lmlab.predictors import LanguageModelPredictor
from lmlab.predictors.continuations import choose_next
from lmlab.predictors.language_model import GENERATE_OPTIONS, _generate_options

WORDS = "a b c d e f g h i j".split()


def _language_model(vocab):
    torch.manual_seed(0)
    return Model.from_params({
        "type": "language_model",
        "text_field_embedder": {"token_embedders": {"tokens": {"type": "embedding", "embedding_dim": 4}}},
        "contextualizer": {"type": "lstm", "input_size": 4, "hidden_size": 5},
    }, vocab=vocab).eval()


def _training_view(model, reader, tmp_path, sentence):
    """(the instance's source tokens, summed NLL, number of targets) of `sentence` read as training reads it."""
    path = tmp_path / "train.txt"
    path.write_text(sentence + "\n")
    instances = list(reader.read(str(path)))
    assert len(instances) == 1
    batch = Batch(instances)
    batch.index_instances(model.vocab)
    with torch.no_grad():
        output = model(**batch.as_tensor_dict())
    count = int(output["num_target_tokens"])
    return instances[0]["source"].tokens, float(output["forward_loss"]) * count, count


def test_an_over_long_sentence_is_cut_and_framed_exactly_as_in_training(tmp_path):
    reader = SimpleLanguageModelingDatasetReader(max_sequence_length=6, start_tokens=["<s>"], end_tokens=["</s>"])
    model = _language_model(Vocabulary(counter={"tokens": {word: 1 for word in WORDS + ["<s>", "</s>"]}}))
    sentence = " ".join(WORDS)
    trained_on, nll, count = _training_view(model, reader, tmp_path, sentence)
    assert trained_on == ["<s>", "a", "b", "c", "d", "</s>"]
    output = LanguageModelPredictor(model, reader).predict_json({"sentence": sentence})
    assert output["tokens"] == ["a", "b", "c", "d"]
    assert output["scored_tokens"] == count == 5
    assert output["log_probability"] == pytest.approx(-nll, rel=1e-5)
    # a sentence that fits is not changed
    short = LanguageModelPredictor(model, reader).predict_json({"sentence": "a b", "next_token": False})
    assert short["tokens"] == ["a", "b"] and short["scored_tokens"] == 3


def test_a_contiguous_readers_end_of_line_token_ends_the_sentence(tmp_path):
    reader = ContiguousLanguageModelingReader(bptt=20, end_of_line_token="<eos>")
    model = _language_model(Vocabulary(counter={"tokens": {word: 1 for word in WORDS + ["<eos>"]}}))
    trained_on, nll, count = _training_view(model, reader, tmp_path, "a b c")
    assert trained_on == ["a", "b", "c"] and count == 3  # targets b, c, <eos>
    predictor = LanguageModelPredictor(model, reader)
    output = predictor.predict_json({"sentence": "a b c"})
    assert output["scored_tokens"] == 3 and output["log_probability"] == pytest.approx(-nll, rel=1e-5)
    # generation stops at the end token and leaves it out: make "<eos>" the likeliest next token
    with torch.no_grad():
        model.softmax_loss.bias[model.vocab.get_token_index("<eos>")] = 50.0
    output = predictor.predict_json({"sentence": "a b c", "generate": {"max_tokens": 5, "greedy": True}})
    assert output["next_tokens"][0]["token"] == "<eos>" and output["generated"]["tokens"] == []


def test_needs_a_language_model():
    vocab = Vocabulary(counter={"tokens": {word: 1 for word in WORDS + ["[MASK]"]}})
    masked = Model.from_params({
        "type": "masked_language_model",
        "text_field_embedder": {"token_embedders": {"tokens": {"type": "embedding", "embedding_dim": 4}}},
        "language_model_head": {"type": "linear", "input_dim": 4},
    }, vocab=vocab)
    with pytest.raises(ConfigurationError, match="needs a language_model, found MaskedLanguageModel"):
        LanguageModelPredictor(masked, SimpleLanguageModelingDatasetReader())

def test_scores_and_next_tokens_are_the_full_log_probabilities_without_a_batch_time_vocabulary_block():
    reader = SimpleLanguageModelingDatasetReader(start_tokens=["<s>"], end_tokens=["</s>"])
    model = _language_model(Vocabulary(counter={"tokens": {word: 1 for word in WORDS + ["<s>", "</s>"]}}))
    sentences = ["a b c d e f", "g", "h i j", "b a"]
    predictor = LanguageModelPredictor(model, reader)
    softmax = model.softmax_loss
    with mock.patch.object(softmax, "log_probs", wraps=softmax.log_probs) as log_probs, \
            mock.patch.object(softmax, "target_log_probs", wraps=softmax.target_log_probs) as target_log_probs:
        outputs = predictor.predict_batch_json([{"sentence": sentence, "top_k": 3} for sentence in sentences])
    # one (4, V) block: the next tokens, which also score each sentence's end token; the other 12 targets are
    # scored without any (N, V) block
    assert [call.args[0].shape[0] for call in log_probs.call_args_list] == [4]
    assert [call.args[1].shape for call in target_log_probs.call_args_list] == [(12,)]
    with torch.no_grad():  # the oracle: each sentence alone, all its (T, V) log-probabilities
        for sentence, output in zip(sentences, outputs, strict=True):
            full = ["<s>", *sentence.split(), "</s>"]
            _, contextual, _ = model.contextualize(predictor.text_field([full]))
            table = model.log_probs(contextual[0])  # (T, V)
            ids = torch.tensor(model.vocab.get_token_indices(full, "tokens"))
            total = float(table[torch.arange(len(full) - 1), ids[1:]].sum())
            assert output["log_probability"] == pytest.approx(total, rel=1e-5)
            assert output["scored_tokens"] == len(full) - 1
            assert output["perplexity"] == pytest.approx(math.exp(-total / (len(full) - 1)), rel=1e-5)
            last = table[len(full) - 2]
            last[[0, 1, model.vocab.get_token_index("<s>")]] = -math.inf
            values, indices = last.topk(3)
            assert [t["token"] for t in output["next_tokens"]] == [model.vocab.get_token_from_index(int(i))
                                                                   for i in indices]
            assert [t["probability"] for t in output["next_tokens"]] == pytest.approx(values.exp().tolist())


@pytest.mark.cross_path
@pytest.mark.parametrize("end_tokens", [["</s>"], []])
def test_each_request_of_a_mixed_batch_gets_what_it_would_get_alone(end_tokens):
    """Scored and ranked, scored only, ranked only: the end token's score shared with the next-token ranking
    (or, without end tokens, nothing shared) gives every request its own answer."""
    reader = SimpleLanguageModelingDatasetReader(start_tokens=["<s>"], end_tokens=end_tokens)
    predictor = LanguageModelPredictor(_language_model(Vocabulary(counter={"tokens": {
        word: 1 for word in WORDS + ["<s>", "</s>"]}})), reader)
    inputs = [{"sentence": "a b c", "score": False}, {"sentence": "d e", "next_token": False}, {"sentence": "f"},
              {"sentence": "g h i j", "top_k": 2}, {"sentence": "b", "score": False, "next_token": False}]
    together = predictor.predict_batch_json(inputs)
    for item, output in zip(inputs, together, strict=True):
        alone = predictor.predict_json(item)
        assert set(output) == set(alone)
        if "log_probability" in alone:
            # a sum of per-token log-probabilities from matmuls of another batch shape: float32 rounding differs
            # per SIMD kernel by ~1e-7 relative per term
            assert output["log_probability"] == pytest.approx(alone["log_probability"], rel=1e-5)
            assert output["scored_tokens"] == alone["scored_tokens"] == len(item["sentence"].split()) + len(end_tokens)
        if "next_tokens" in alone:
            assert [t["token"] for t in output["next_tokens"]] == [t["token"] for t in alone["next_tokens"]]


def test_a_top_k_beyond_the_allowed_words_lists_only_them_never_padding_oov_or_start_tokens():
    reader = SimpleLanguageModelingDatasetReader(start_tokens=["<s>"], end_tokens=["</s>"])
    predictor = LanguageModelPredictor(_language_model(Vocabulary(counter={"tokens": {
        word: 1 for word in WORDS + ["<s>", "</s>"]}})), reader)
    candidates = predictor.predict_json({"sentence": "a b", "top_k": 1000})["next_tokens"]
    assert sorted(candidate["token"] for candidate in candidates) == sorted(WORDS + ["</s>"])
    assert all(candidate["probability"] > 0 for candidate in candidates)
    with pytest.raises(InputError, match='"top_k" must be an integer from 1 to 1000, found 1001'):
        predictor.validate({"sentence": "a b", "top_k": 1001})


def test_a_sentence_over_max_chars_is_refused_before_it_is_tokenised():
    reader = SimpleLanguageModelingDatasetReader(start_tokens=["<s>"], end_tokens=["</s>"], max_sequence_length=8)
    predictor = LanguageModelPredictor(_language_model(Vocabulary(counter={"tokens": {
        word: 1 for word in WORDS + ["<s>", "</s>"]}})), reader, max_chars=100)
    assert predictor.validate({"sentence": "a " * 50}).tokens == ["a"] * 6  # cut by the reader, as in training
    with mock.patch.object(reader.tokenizer, "tokenize", wraps=reader.tokenizer.tokenize) as tokenize, \
            pytest.raises(InputError, match='input too long: "sentence" has 102 characters > max_chars 100'):
        predictor.validate({"sentence": "a " * 51})
    assert not tokenize.called


def test_only_what_is_asked_is_computed():
    reader = SimpleLanguageModelingDatasetReader(start_tokens=["<s>"], end_tokens=["</s>"])
    model = _language_model(Vocabulary(counter={"tokens": {word: 1 for word in WORDS + ["<s>", "</s>"]}}))
    predictor = LanguageModelPredictor(model, reader)
    with mock.patch.object(model, "contextualize", wraps=model.contextualize) as contextualize:
        output = predictor.predict_json({"sentence": "a b", "score": False, "next_token": False,
                                         "generate": {"max_tokens": 2, "greedy": True}})
    assert not contextualize.called and set(output) == {"tokens", "generated"}
    ranked = predictor.predict_json({"sentence": "a b", "score": False, "top_k": 2})
    assert set(ranked) == {"tokens", "next_tokens"} and len(ranked["next_tokens"]) == 2


LOG_PROBS = torch.log(torch.tensor([0.05, 0.5, 0.3, 0.1, 0.05]))


def _options(**changes):
    return {**GENERATE_OPTIONS, **changes}


def _choose(log_probs, options, generator):
    """One row's choice (choose_next of a batch of one)."""
    return int(choose_next(log_probs.unsqueeze(0), [options], [generator])[0])


def test_greedy_and_degenerate_sampling_pick_the_argmax():
    assert _choose(LOG_PROBS, _options(greedy=True), None) == 1
    generator = torch.Generator().manual_seed(0)
    assert {_choose(LOG_PROBS, _options(top_k=1), generator) for _ in range(20)} == {1}
    assert {_choose(LOG_PROBS, _options(top_p=0.4), generator) for _ in range(20)} == {1}


def test_top_k_and_top_p_keep_exactly_the_expected_sets():
    generator = torch.Generator().manual_seed(1)
    assert {_choose(LOG_PROBS, _options(top_k=2), generator) for _ in range(200)} == {1, 2}
    # top_p 0.85: the smallest set reaching 0.85 is {1, 2, 3} (0.5 + 0.3 + 0.1 = 0.9)
    assert {_choose(LOG_PROBS, _options(top_p=0.85), generator) for _ in range(300)} == {1, 2, 3}


def test_temperature_sharpens_and_seed_reproduces():
    first = [_choose(LOG_PROBS, _options(), torch.Generator().manual_seed(seed)) for seed in range(30)]
    again = [_choose(LOG_PROBS, _options(), torch.Generator().manual_seed(seed)) for seed in range(30)]
    assert first == again and len(set(first)) > 1
    generator = torch.Generator().manual_seed(2)
    cold = [_choose(LOG_PROBS, _options(temperature=0.05), generator) for _ in range(200)]
    # at T = 0.05 the runner-up has probability (0.3 / 0.5) ** 20 / (1 + ...) < 4e-5
    assert cold == [1] * 200


@pytest.mark.parametrize("value, message", [
    ({"max_tokens": 0}, "generate.max_tokens"), ({"top_p": 1.5}, "generate.top_p"),
    ({"temperature": 0}, "generate.temperature"), ({"topk": 3}, 'did you mean "top_k"'), ([1], "must be an object"),
    ({"temperature": 1e-39}, "generate.temperature"), ({"temperature": 3e38}, "generate.temperature"),
    ({"temperature": float("nan")}, "generate.temperature"), ({"temperature": 10 ** 400}, "integer of 1329 bits"),
    ({"seed": 2 ** 64}, "generate.seed"), ({"seed": -1}, "generate.seed"), ({"top_k": 10 ** 30}, "generate.top_k"),
    ({"top_p": float("nan")}, "generate.top_p")])
def test_invalid_generate_options(value, message):
    with pytest.raises(InputError, match=message):
        _generate_options(value)
