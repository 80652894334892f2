"""Generation with the language_model predictor: `choose_next` against `torch.multinomial` row by row, batched
incremental generation against a brute-force re-run, reproducible seeds whatever the batch, rows leaving as
they finish, and `Continuations` that take new rows, drop, split and merge between steps."""
import math
from typing import Any, Dict, List, Optional, cast
from unittest import mock

import pytest
import torch

from lmlab.data import SimpleLanguageModelingDatasetReader, Vocabulary
from lmlab.models import LanguageModel, Model
from lmlab.predictors import LanguageModelPredictor
from lmlab.predictors.continuations import choose_next
from lmlab.predictors.language_model import GENERATE_OPTIONS

WORDS = [f"w{i}" for i in range(30)]
ENCODERS = {
    "lstm": ({"type": "lstm", "input_size": 8, "hidden_size": 12, "num_layers": 2}, False),
    "transformer": ({"type": "transformer", "input_dim": 8, "num_heads": 2}, False),
    "dense_rnn": ({"type": "dense_rnn", "input_size": 8, "hidden_size": 4, "num_layers": 2}, False),
    "bidirectional_lm_lstm": ({"type": "bidirectional_lm_lstm", "input_size": 8, "hidden_size": 6}, True),
}
SAMPLED = [{"max_tokens": 9, "seed": 1}, {"max_tokens": 4, "seed": 2, "temperature": 1.7},
           {"max_tokens": 12, "seed": 3, "top_k": 5}, {"max_tokens": 7, "seed": 4, "top_p": 0.6, "temperature": 0.8},
           {"max_tokens": 6, "greedy": True}]
SENTENCES = ["w1 w2 w3", "w4", "w5 w6 w7 w8 w9", "w10 w11", "w12"]


def _predictor(name: str = "lstm", end_tokens: Optional[List[str]] = None, **options: Any) -> LanguageModelPredictor:
    encoder, bidirectional = ENCODERS[name]
    end_tokens = ["</s>"] if end_tokens is None else end_tokens
    vocab = Vocabulary(counter={"tokens": {word: 1 for word in WORDS + ["<s>", "</s>"]}})
    torch.manual_seed(0)
    model = Model.from_params({
        "type": "language_model", "bidirectional": bidirectional, "contextualizer": encoder,
        "text_field_embedder": {"token_embedders": {"tokens": {"type": "embedding", "embedding_dim": 8}}},
    }, vocab=vocab)
    reader = SimpleLanguageModelingDatasetReader(start_tokens=["<s>"], end_tokens=end_tokens)
    return LanguageModelPredictor(cast(LanguageModel, model), reader, **options)


def _inputs(options: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [{"sentence": sentence, "generate": option, "score": False, "next_token": False}
            for sentence, option in zip(SENTENCES, options, strict=True)]


def _generated(predictor: LanguageModelPredictor, inputs: List[Dict[str, Any]]) -> List[List[str]]:
    return [output["generated"]["tokens"] for output in predictor.predict_batch_json(inputs)]


# --- choosing the next token ---------------------------------------------------------------------------
def _multinomial_alone(log_probs: torch.Tensor, options: Dict[str, Any], generator: torch.Generator) -> int:
    """The oracle: one row at a time, with torch.multinomial (lmlab's generation before batching)."""
    if options["greedy"]:
        return int(log_probs.argmax())
    logits = log_probs / options["temperature"]
    if options["top_k"]:
        kth = logits.topk(min(options["top_k"], logits.numel())).values[-1]
        logits = logits.masked_fill(logits < kth, -math.inf)
    if options["top_p"] is not None and options["top_p"] < 1:
        sorted_logits, order = logits.sort(descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        remove = cumulative - sorted_logits.softmax(-1) >= options["top_p"]
        logits = logits.masked_fill(torch.zeros_like(remove).scatter(0, order, remove), -math.inf)
    return int(torch.multinomial(logits.softmax(-1), 1, generator=generator))


@pytest.mark.cross_path
def test_choose_next_draws_for_every_row_exactly_what_multinomial_draws_for_it_alone():
    rows = [{"seed": 1}, {"seed": 2, "temperature": 0.7}, {"seed": 3, "top_k": 4}, {"seed": 4, "top_p": 0.5},
            {"seed": 5, "top_k": 30, "top_p": 0.9, "temperature": 1.3}, {"seed": 6, "greedy": True},
            {"seed": 7, "top_k": 1}, {"seed": 8, "top_p": 1.0}]
    options = [{**GENERATE_OPTIONS, **row} for row in rows]
    batched = [torch.Generator().manual_seed(option["seed"]) for option in options]
    alone = [torch.Generator().manual_seed(option["seed"]) for option in options]
    torch.manual_seed(0)
    draws = set()
    for _ in range(25):
        log_probs = torch.randn(len(options), 40).mul(2).log_softmax(dim=1)
        log_probs[:, [0, 7]] = -math.inf  # banned ids
        chosen = choose_next(log_probs, options, batched).tolist()
        expected = [_multinomial_alone(log_probs[row], option, generator)
                    for row, (option, generator) in enumerate(zip(options, alone, strict=True))]
        assert chosen == expected
        draws.update(chosen)
    assert not draws & {0, 7} and len(draws) > 10


def test_unseeded_rows_sample_from_the_global_generator():
    options = [{**GENERATE_OPTIONS, "top_k": 3}] * 4
    log_probs = torch.log(torch.tensor([[0.4, 0.3, 0.2, 0.1]] * 4))
    torch.manual_seed(5)
    first = [choose_next(log_probs, options, [None] * 4).tolist() for _ in range(10)]
    torch.manual_seed(5)
    assert first == [choose_next(log_probs, options, [None] * 4).tolist() for _ in range(10)]
    assert {draw for step in first for draw in step} == {0, 1, 2}


def test_unseeded_draws_follow_the_probabilities_and_never_take_a_banned_id():
    """20,000 unseeded rows at once (inverse cumulative distribution): each id's frequency within 4 standard
    deviations of its probability, after temperature and top-k; banned and cut ids never drawn."""
    probabilities = torch.tensor([0.0, 0.45, 0.25, 1e-4, 0.2, 0.0999, 0.1])
    log_probs = probabilities.log().expand(20_000, -1)  # id 0 is banned (-inf)
    torch.manual_seed(3)
    for changes, expected in [({}, probabilities / probabilities.sum()),
                              ({"temperature": 0.5, "top_k": 3}, torch.tensor([0, 0.45, 0.25, 0, 0.2, 0, 0]) ** 2)]:
        expected = expected / expected.sum()
        draws = choose_next(log_probs, [{**GENERATE_OPTIONS, **changes}] * 20_000, [None] * 20_000)
        frequencies = torch.bincount(draws, minlength=7) / 20_000
        assert bool(((frequencies - expected).abs() <= 4 * (expected * (1 - expected) / 20_000).sqrt()).all())
        assert bool((frequencies[expected == 0] == 0).all())


# --- generation ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("temperature", [1e-39, 1e-45, 3.4e38, 1e300, math.inf, math.nan])
def test_no_temperature_makes_choose_next_return_a_banned_id(temperature):
    """Far outside the range the predictor accepts, float32 holds no distribution (NaN); the row takes its
    most likely id instead of padding (seeded) or an id past the vocabulary (unseeded)."""
    log_probs = torch.log_softmax(torch.randn(4, 50, generator=torch.Generator().manual_seed(0)), dim=1)
    log_probs[:, :3] = -math.inf  # banned
    options = [{**GENERATE_OPTIONS, "temperature": temperature, "top_k": top_k, "top_p": top_p}
               for top_k, top_p in [(None, None), (5, None), (None, 0.5), (None, None)]]
    for seeded in (True, False):
        generators = [torch.Generator().manual_seed(row) if seeded else None for row in range(4)]
        chosen = choose_next(log_probs, options, generators)
        assert chosen.tolist() == log_probs.argmax(dim=1).tolist() or temperature > 1e30  # T -> 0: greedy
        assert bool((chosen >= 3).all()) and bool((chosen < 50).all())


def _rerun_greedy(predictor: LanguageModelPredictor, sentence: str, max_tokens: int) -> List[str]:
    """The oracle: the whole prefix through `contextualize` for every token, one sentence alone."""
    model, sequence, generated = predictor.model, ["<s>", *sentence.split()], cast(List[str], [])
    while len(generated) < max_tokens:
        model.reset_states()
        _, contextual, _ = model.contextualize(predictor.text_field([sequence]))
        log_probs = model.log_probs(model.forward_direction_embeddings(contextual[0, -1]))
        log_probs[[0, 1, model.vocab.get_token_index("<s>")]] = -math.inf  # padding, OOV, start token
        token = model.vocab.get_token_from_index(int(log_probs.argmax()))
        if token == "</s>":
            break
        sequence.append(token)
        generated.append(token)
    return generated


@pytest.mark.cross_path
@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_batched_greedy_generation_equals_a_rerun_of_the_whole_prefix_for_each_sentence_alone(name):
    predictor = _predictor(name)
    assert predictor.model.can_step() == (name != "bidirectional_lm_lstm")  # which falls back to re-running
    options = [{"max_tokens": n, "greedy": True} for n in (8, 3, 12, 1, 6)]
    generated = _generated(predictor, _inputs(options))
    with torch.no_grad():
        assert generated == [_rerun_greedy(predictor, sentence, option["max_tokens"])
                             for sentence, option in zip(SENTENCES, options, strict=True)]
    assert any(len(tokens) > 2 for tokens in generated)


@pytest.mark.cross_path
@pytest.mark.parametrize("name", ["lstm", "transformer"])
def test_seeded_continuations_are_the_same_alone_batched_re_run_and_streamed(name):
    predictor = _predictor(name)
    inputs = _inputs(SAMPLED)
    together = _generated(predictor, inputs)
    assert together == [_generated(predictor, [item])[0] for item in inputs]
    assert together == _generated(_predictor(name, incremental=False), inputs)
    steps = list(predictor.generate_stream([predictor.validate(item) for item in inputs]))
    assert together == [[step[row] for step in steps if step[row] is not None] for row in range(len(inputs))]
    assert len({tuple(tokens) for tokens in together}) == len(together)  # the seeds differ, so do the draws


def test_each_token_is_one_batched_step_and_rows_leave_as_they_finish():
    predictor = _predictor(end_tokens=[])  # no end token: every row makes exactly max_tokens tokens
    requests = [predictor.validate({"sentence": sentence, "generate": {"max_tokens": n, "seed": n}})
                for sentence, n in zip(SENTENCES, (1, 3, 5), strict=False)]
    model = predictor.model
    with mock.patch.object(model, "step", wraps=model.step) as step:
        steps = list(predictor.generate_stream(requests))
    sources = [call.args[0]["tokens"]["tokens"] for call in step.call_args_list]
    assert [tuple(source.shape) for source in sources] == [(3, 6), (2, 1), (2, 1), (1, 1), (1, 1)]
    assert [[token is not None for token in step] for step in steps] == [
        [True, True, True], [False, True, True], [False, True, True], [False, False, True], [False, False, True]]


def test_a_generate_stream_needs_generate_options():
    predictor = _predictor()
    with pytest.raises(ValueError, match=r"requests \[1\] have no generate options"):
        next(predictor.generate_stream([predictor.validate(item) for item in
                                        [{"sentence": "w1", "generate": True}, {"sentence": "w2"}]]))


def test_rows_can_join_a_running_batch_and_leave_it():
    predictor = _predictor()
    alone = _generated(predictor, _inputs(SAMPLED))
    running = predictor.continuations()
    requests = [predictor.validate(item) for item in _inputs(SAMPLED)]
    made: Dict[int, List[str]] = {}
    ids = running.add([requests[0].prefix], [requests[0].generate])
    for _ in range(2):
        for row_id, token in running.step().items():
            made.setdefault(row_id, []).append(token)
    ids += running.add([request.prefix for request in requests[1:4]], [request.generate for request in requests[1:4]])
    assert running.ids == ids and len(running) == 4
    running.drop([ids[3]])
    assert ids[3] not in running and len(running) == 3
    while len(running):
        for row_id, token in running.step().items():
            made.setdefault(row_id, []).append(token)
    assert [[token for token in made[row_id] if token is not None] for row_id in ids[:3]] == alone[:3]


def test_a_step_that_fails_changes_nothing_so_rows_can_be_retried_apart():
    predictor = _predictor()
    expected = _generated(predictor, _inputs(SAMPLED))
    running = predictor.continuations()
    requests = [predictor.validate(item) for item in _inputs(SAMPLED)]
    ids = running.add([request.prefix for request in requests], [request.generate for request in requests])
    made: Dict[int, List[str]] = {row_id: [] for row_id in ids}

    def collect(answers: Dict[int, Optional[str]]) -> None:
        for row_id, token in answers.items():
            if token is not None:
                made[row_id].append(token)

    collect(running.step())
    real_step = predictor.model.step
    with mock.patch.object(predictor.model, "step", side_effect=RuntimeError("out of memory")):
        with pytest.raises(RuntimeError, match="out of memory"):
            running.step()
    assert predictor.model.step == real_step
    for row_id in list(running.ids):  # step each row apart, as a server does after a failure, then rejoin
        alone = running.split([row_id])
        assert len(alone) == 1 and row_id not in running
        collect(alone.step())
        running.merge(alone)
    while len(running):
        collect(running.step())
    assert [made[row_id] for row_id in ids] == expected
