"""The stacked RNN machinery shared by basic_rnn, dense_rnn and ld_rnn: explicit-state runs, the layer.

The carried state of these encoders is tested with the others in test_stateful_encoder.py."""
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
