import io

import pytest
import torch

from lmlab.common.errors import ConfigurationError
from lmlab.modules.seq2seq_encoders import GruSeq2SeqEncoder, LstmSeq2SeqEncoder, Seq2SeqEncoder


def _pair(kind, **extra):
    """A stateful encoder and a stateless one with the same weights."""
    torch.manual_seed(0)
    config = {"type": kind, "input_size": 4, "hidden_size": 3, "num_layers": 2, **extra}
    stateful = Seq2SeqEncoder.from_params({**config, "stateful": True}).eval()
    stateless = Seq2SeqEncoder.from_params(dict(config)).eval()
    stateless.load_state_dict(stateful.state_dict())
    return stateful, stateless


def _ones(batch, length):
    return torch.ones(batch, length, dtype=torch.bool)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_two_stateful_calls_equal_one_call_over_the_concatenation(kind):
    stateful, stateless = _pair(kind)
    assert stateful.supports_state() and stateful.is_stateful()
    x = torch.randn(3, 10, 4)
    with torch.no_grad():
        whole = stateless(x, _ones(3, 10))
        first = stateful(x[:, :4], _ones(3, 4))
        second = stateful(x[:, 4:], _ones(3, 6))
    assert torch.allclose(torch.cat([first, second], dim=1), whole, rtol=0, atol=1e-6)


def test_a_row_without_tokens_keeps_its_state_and_ragged_rows_carry_their_last_real_state():
    stateful, stateless = _pair("lstm")
    x = torch.randn(2, 9, 4)
    with torch.no_grad():
        stateful(x[:, :3], _ones(2, 3))
        stateful(x[:, 3:5], torch.tensor([[True, True], [False, False]]))  # row 1 has no tokens here
        third = stateful(x[:, 5:], _ones(2, 4))
        row0 = stateless(x[0:1], _ones(1, 9))[0, 5:]
        row1 = stateless(torch.cat([x[1:2, :3], x[1:2, 5:]], dim=1), _ones(1, 7))[0, 3:]
    assert torch.allclose(third[0], row0, rtol=0, atol=1e-6)
    assert torch.allclose(third[1], row1, rtol=0, atol=1e-6)


def test_reset_states_and_batch_size_change_start_from_zeros():
    stateful, stateless = _pair("lstm")
    x = torch.randn(3, 8, 4)
    with torch.no_grad():
        stateful(x[:, :4], _ones(3, 4))
        stateful.reset_states()
        assert torch.equal(stateful(x[:, 4:], _ones(3, 4)), stateless(x[:, 4:], _ones(3, 4)))
        smaller = stateful(x[:2, :4], _ones(2, 4))  # batch size changed: no carried state
        assert torch.equal(smaller, stateless(x[:2, :4], _ones(2, 4)))


def test_carried_state_is_in_the_state_dict_and_a_new_module_continues_identically():
    stateful, _ = _pair("lstm")
    x = torch.randn(3, 8, 4)
    with torch.no_grad():
        stateful(x[:, :4], _ones(3, 4))
        state = stateful.state_dict()
        assert state["_extra_state"].shape == (2, 2, 3, 3)  # (h and c, L, B, H)
        assert not state["_extra_state"].requires_grad
        buffer = io.BytesIO()
        torch.save(state, buffer)
        buffer.seek(0)
        fresh = Seq2SeqEncoder.from_params({"type": "lstm", "input_size": 4, "hidden_size": 3, "num_layers": 2,
                                            "stateful": True}).eval()
        fresh.load_state_dict(torch.load(buffer, weights_only=True))
        assert torch.equal(fresh(x[:, 4:], _ones(3, 4)), stateful(x[:, 4:], _ones(3, 4)))
        stateful.reset_states()
        assert stateful.state_dict()["_extra_state"].numel() == 0


def test_state_is_detached_between_calls():
    stateful, _ = _pair("lstm")
    x = torch.randn(2, 6, 4, requires_grad=True)
    stateful(x[:, :3], _ones(2, 3))
    stateful(x[:, 3:], _ones(2, 3)).sum().backward()  # truncated BPTT: no gradient into the first chunk
    assert torch.equal(x.grad[:, :3], torch.zeros(2, 3, 4))
    assert x.grad[:, 3:].abs().sum() > 0


def test_bidirectional_cannot_be_stateful_and_reports_its_sizes():
    with pytest.raises(ConfigurationError, match="bidirectional"):
        Seq2SeqEncoder.from_params({"type": "gru", "input_size": 4, "hidden_size": 3, "bidirectional": True,
                                    "stateful": True})
    encoder = LstmSeq2SeqEncoder(4, 3, bidirectional=True)
    assert encoder.get_input_dim() == 4 and encoder.get_output_dim() == 6
    assert not encoder.supports_state()
    with pytest.raises(ValueError, match="LstmSeq2SeqEncoder cannot carry its state between batches"):
        encoder.set_stateful(True)
    assert isinstance(Seq2SeqEncoder.from_params({"type": "gru", "input_size": 2, "hidden_size": 2}),
                      GruSeq2SeqEncoder)


def test_padded_positions_are_zero_and_rows_without_tokens_give_zeros():
    encoder = LstmSeq2SeqEncoder(4, 3)
    mask = torch.tensor([[True, True, False], [False, False, False]])
    out = encoder(torch.randn(2, 3, 4), mask)
    assert out.shape == (2, 3, 3)
    assert torch.equal(out[~mask], torch.zeros(4, 3))
