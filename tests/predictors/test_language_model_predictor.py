"""Next-token choice for generation: greedy, temperature, top-k and top-p, and option validation."""
import pytest
import torch

from lmlab.common import InputError
from lmlab.predictors.language_model import GENERATE_OPTIONS, _choose, _generate_options

LOG_PROBS = torch.log(torch.tensor([0.05, 0.5, 0.3, 0.1, 0.05]))


def _options(**changes):
    return {**GENERATE_OPTIONS, **changes}


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
    ({"temperature": 0}, "generate.temperature"), ({"topk": 3}, 'did you mean "top_k"'), ([1], "must be an object")])
def test_invalid_generate_options(value, message):
    with pytest.raises(InputError, match=message):
        _generate_options(value)
