"""The carried-state contract (`StatefulEncoder`) for every encoder that implements it."""
import io

import pytest
import torch

from lmlab.modules.seq2seq_encoders import Seq2SeqEncoder, StatefulEncoder

pytestmark = pytest.mark.cross_path  # compares two code paths: re-run under every CPU kernel level

CONFIGS = [{"type": "lstm"}, {"type": "gru"}, {"type": "basic_rnn", "unit": "lstm"},
           {"type": "dense_rnn", "unit": "gru"}, {"type": "ld_rnn", "unit": "lstm"}]
IDS = ["lstm", "gru", "basic_rnn", "dense_rnn", "ld_rnn"]


def _build(config, stateful):
    full = {"input_size": 4, "hidden_size": 3, "num_layers": 2, **config, "stateful": stateful}
    return Seq2SeqEncoder.from_params(full).eval()


def _pair(config):
    """A stateful encoder and a stateless one with the same weights, in eval mode."""
    torch.manual_seed(0)
    stateful, stateless = _build(config, True), _build(config, False)
    stateless.load_state_dict(stateful.state_dict())
    return stateful, stateless


def _ones(batch, length):
    return torch.ones(batch, length, dtype=torch.bool)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_two_stateful_calls_equal_one_call_over_the_concatenation(config):
    stateful, stateless = _pair(config)
    assert isinstance(stateful, StatefulEncoder)
    assert stateful.supports_state() and stateful.is_stateful() and not stateless.is_stateful()
    x = torch.randn(3, 10, 4)
    with torch.no_grad():
        whole = stateless(x, _ones(3, 10))
        first = stateful(x[:, :4], _ones(3, 4))
        second = stateful(x[:, 4:], _ones(3, 6))
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole, rtol=0, atol=1e-6)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_rows_without_tokens_keep_their_state_and_ragged_rows_carry_their_last_real_state(config):
    stateful, stateless = _pair(config)
    x = torch.randn(2, 9, 4)
    with torch.no_grad():
        stateful(x[:, :3], _ones(2, 3))
        stateful(x[:, 3:5], torch.tensor([[True, True], [False, False]]))  # row 1 has no tokens here
        third = stateful(x[:, 5:], _ones(2, 4))
        row0 = stateless(x[0:1], _ones(1, 9))[0, 5:]
        row1 = stateless(torch.cat([x[1:2, :3], x[1:2, 5:]], dim=1), _ones(1, 7))[0, 3:]
    torch.testing.assert_close(third[0], row0, rtol=0, atol=1e-6)
    torch.testing.assert_close(third[1], row1, rtol=0, atol=1e-6)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_carried_state_travels_with_the_state_dict_and_resets(config):
    stateful, stateless = _pair(config)
    x = torch.randn(3, 8, 4)
    with torch.no_grad():
        stateful(x[:, :4], _ones(3, 4))
        state = stateful.state_dict()
        assert state["_extra_state"].shape[2] == 3 and not state["_extra_state"].requires_grad  # batch on dim 2
        buffer = io.BytesIO()
        torch.save(state, buffer)
        buffer.seek(0)
        fresh = _build(config, True)
        fresh.load_state_dict(torch.load(buffer, weights_only=True))
        assert torch.equal(fresh(x[:, 4:], _ones(3, 4)), stateful(x[:, 4:], _ones(3, 4)))
        stateful.reset_states()
        assert stateful.state_dict()["_extra_state"].numel() == 0
        assert torch.equal(stateful(x[:, 4:], _ones(3, 4)), stateless(x[:, 4:], _ones(3, 4)))
        assert torch.equal(stateful(x[:2, :4], _ones(2, 4)), stateless(x[:2, :4], _ones(2, 4)))  # new batch size
        stateful.set_stateful(False)
        assert not stateful.is_stateful() and stateful.state_dict()["_extra_state"].numel() == 0


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_state_is_detached_between_calls(config):
    stateful, _ = _pair(config)
    x = torch.randn(2, 6, 4, requires_grad=True)
    stateful(x[:, :3], _ones(2, 3))
    stateful(x[:, 3:], _ones(2, 3)).sum().backward()  # truncated BPTT: no gradient into the first chunk
    assert torch.equal(x.grad[:, :3], torch.zeros(2, 3, 4))
    assert x.grad[:, 3:].abs().sum() > 0
