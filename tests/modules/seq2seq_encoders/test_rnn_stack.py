"""The stacked RNN machinery shared by basic_rnn, dense_rnn and ld_rnn: carried state, explicit-state runs."""
import io

import pytest
import torch

from lmlab.modules.seq2seq_encoders import RnnLayer, Seq2SeqEncoder

KINDS = [("basic_rnn", "lstm"), ("dense_rnn", "gru"), ("ld_rnn", "lstm")]


def _pair(kind, unit):
    """A stateful encoder and a stateless one with the same weights, in eval mode."""
    torch.manual_seed(0)
    config = {"type": kind, "input_size": 4, "hidden_size": 3, "num_layers": 2, "unit": unit}
    stateful = Seq2SeqEncoder.from_params({**config, "stateful": True}).eval()
    stateless = Seq2SeqEncoder.from_params(dict(config)).eval()
    stateless.load_state_dict(stateful.state_dict())
    return stateful, stateless


def _ones(batch, length):
    return torch.ones(batch, length, dtype=torch.bool)


@pytest.mark.parametrize("kind,unit", KINDS)
def test_two_stateful_calls_equal_one_call_over_the_concatenation(kind, unit):
    stateful, stateless = _pair(kind, unit)
    assert stateful.supports_state() and stateful.is_stateful() and not stateless.is_stateful()
    x = torch.randn(3, 10, 4)
    with torch.no_grad():
        whole = stateless(x, _ones(3, 10))
        first = stateful(x[:, :4], _ones(3, 4))
        second = stateful(x[:, 4:], _ones(3, 6))
    assert torch.allclose(torch.cat([first, second], dim=1), whole, rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind,unit", KINDS)
def test_rows_without_tokens_keep_their_state_and_ragged_rows_carry_their_last_real_state(kind, unit):
    stateful, stateless = _pair(kind, unit)
    x = torch.randn(2, 9, 4)
    with torch.no_grad():
        stateful(x[:, :3], _ones(2, 3))
        stateful(x[:, 3:5], torch.tensor([[True, True], [False, False]]))  # row 1 has no tokens here
        third = stateful(x[:, 5:], _ones(2, 4))
        row0 = stateless(x[0:1], _ones(1, 9))[0, 5:]
        row1 = stateless(torch.cat([x[1:2, :3], x[1:2, 5:]], dim=1), _ones(1, 7))[0, 3:]
    assert torch.allclose(third[0], row0, rtol=0, atol=1e-6)
    assert torch.allclose(third[1], row1, rtol=0, atol=1e-6)


def test_carried_state_travels_with_the_state_dict_and_resets():
    stateful, stateless = _pair("dense_rnn", "lstm")
    x = torch.randn(3, 8, 4)
    with torch.no_grad():
        stateful(x[:, :4], _ones(3, 4))
        state = stateful.state_dict()
        assert state["_extra_state"].shape == (2, 2, 3, 3)  # (L, h and c, B, H)
        buffer = io.BytesIO()
        torch.save(state, buffer)
        buffer.seek(0)
        fresh, _ = _pair("dense_rnn", "lstm")
        fresh.load_state_dict(torch.load(buffer, weights_only=True))
        assert torch.equal(fresh(x[:, 4:], _ones(3, 4)), stateful(x[:, 4:], _ones(3, 4)))
        stateful.reset_states()
        assert stateful.state_dict()["_extra_state"].numel() == 0
        assert torch.equal(stateful(x[:, 4:], _ones(3, 4)), stateless(x[:, 4:], _ones(3, 4)))
        assert torch.equal(stateful(x[:2, :4], _ones(2, 4)), stateless(x[:2, :4], _ones(2, 4)))  # new batch size


def test_state_is_detached_between_calls():
    stateful, _ = _pair("ld_rnn", "gru")
    x = torch.randn(2, 6, 4, requires_grad=True)
    stateful(x[:, :3], _ones(2, 3))
    stateful(x[:, 3:], _ones(2, 3)).sum().backward()
    assert torch.equal(x.grad[:, :3], torch.zeros(2, 3, 4))
    assert x.grad[:, 3:].abs().sum() > 0


@pytest.mark.parametrize("kind,unit", KINDS)
def test_stepping_one_token_at_a_time_with_an_explicit_state_equals_one_call(kind, unit):
    _, encoder = _pair(kind, unit)
    x = torch.randn(2, 6, 4)
    with torch.no_grad():
        whole, whole_final = encoder.run(x, _ones(2, 6))
        state, steps = None, []
        for t in range(6):
            output, state = encoder.run(x[:, t:t + 1], _ones(2, 1), state)
            steps.append(output)
    assert state.shape == whole_final.shape == (2, 2 if unit == "lstm" else 1, 2, 3)
    assert torch.allclose(torch.cat(steps, dim=1), whole, rtol=0, atol=1e-6)
    assert torch.allclose(state, whole_final, rtol=0, atol=1e-6)
    assert not encoder.is_stateful() and encoder.state_dict()["_extra_state"].numel() == 0  # run keeps nothing


def test_rnn_layer_final_state_is_at_each_rows_last_real_token():
    torch.manual_seed(0)
    layer = RnnLayer("lstm", 4, 3)
    assert layer.state_size == 2
    x = torch.randn(2, 5, 4)
    outputs, final = layer(x, None, torch.tensor([5, 2]))
    alone, alone_final = layer(x[1:, :2])
    assert torch.equal(outputs[1, 2:], torch.zeros(3, 3))
    assert torch.allclose(outputs[1, :2], alone[0], rtol=0, atol=1e-6)
    assert torch.allclose(final[:, 1], alone_final[:, 0], rtol=0, atol=1e-6)
    assert torch.allclose(final[0, 0], outputs[0, -1], rtol=0, atol=1e-6)  # h is the last output
