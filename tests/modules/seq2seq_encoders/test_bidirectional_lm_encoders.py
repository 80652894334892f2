import pytest
import torch

from lmlab.common.errors import ConfigurationError
from lmlab.modules.seq2seq_encoders import BidirectionalLmLstm, BidirectionalLmTransformer, Seq2SeqEncoder

pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")


def test_lstm_halves_are_a_forward_lstm_and_a_forward_lstm_over_each_reversed_row():
    torch.manual_seed(0)
    encoder = BidirectionalLmLstm(4, 5, num_layers=1).eval()
    assert encoder.get_output_dim() == 10 and encoder.is_bidirectional() and encoder.no_peeking()
    x = torch.randn(2, 6, 4)
    lengths = [6, 4]
    mask = torch.arange(6).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    with torch.no_grad():
        out = encoder(x, mask)
        for row, length in enumerate(lengths):
            forward, _ = encoder.forward_layers[0](x[row:row + 1, :length])
            backward, _ = encoder.backward_layers[0](x[row:row + 1, :length].flip(1))
            assert torch.allclose(out[row, :length, :5], forward[0], rtol=0, atol=1e-6)
            assert torch.allclose(out[row, :length, 5:], backward[0].flip(0), rtol=0, atol=1e-6)


def test_lstm_projection_skip_connections_and_all_layers():
    encoder = Seq2SeqEncoder.from_params({"type": "bidirectional_lm_lstm", "input_size": 4, "hidden_size": 8,
                                          "num_layers": 3, "projection_dim": 3, "use_skip_connections": True,
                                          "return_all_layers": True})
    assert encoder.get_output_dim() == 6 and encoder.num_layers == 3
    out = encoder(torch.randn(2, 5, 4), torch.ones(2, 5, dtype=torch.bool))
    assert out.shape == (3, 2, 5, 6)
    out.sum().backward()
    assert all(p.grad is not None for p in encoder.parameters())


def test_lstm_rejects_a_projection_not_smaller_than_the_cell():
    try:
        Seq2SeqEncoder.from_params({"type": "bidirectional_lm_lstm", "input_size": 4, "hidden_size": 3,
                                    "projection_dim": 3})
    except ConfigurationError as err:
        assert "projection_dim" in str(err)
    else:
        raise AssertionError("expected a ConfigurationError")


def test_transformer_output_layout_and_independent_stacks():
    torch.manual_seed(0)
    encoder = BidirectionalLmTransformer(8, num_layers=2, num_heads=2, dropout=0.0).eval()
    assert encoder.get_output_dim() == 16 and encoder.no_peeking() and not encoder.supports_state()
    x, mask = torch.randn(2, 5, 8), torch.ones(2, 5, dtype=torch.bool)
    with torch.no_grad():
        out = encoder(x, mask)
        assert torch.equal(out[..., :8], encoder.stacks[0](x, mask))
        assert torch.equal(out[..., 8:], encoder.stacks[1](x, mask))
    shared = {id(p) for p in encoder.stacks[0].parameters()} & {id(p) for p in encoder.stacks[1].parameters()}
    assert not shared
