import pytest
import torch

from lmlab.common.errors import ConfigurationError
from lmlab.modules.seq2seq_encoders import CausalTransformerEncoder, Seq2SeqEncoder, TransformerStack


@pytest.mark.parametrize("positional_encoding", ["sinusoidal", "learned", "none"])
def test_shapes_zero_padding_and_no_nan_for_rows_without_tokens(positional_encoding):
    torch.manual_seed(0)
    encoder = Seq2SeqEncoder.from_params({"type": "transformer", "input_dim": 8, "num_heads": 2,
                                          "positional_encoding": positional_encoding})
    assert encoder.get_input_dim() == encoder.get_output_dim() == 8
    assert not encoder.is_bidirectional() and encoder.no_peeking() and not encoder.supports_state()
    mask = torch.tensor([[True, True, True], [True, False, False], [False, False, False]])
    out = encoder(torch.randn(3, 3, 8), mask)
    assert out.shape == (3, 3, 8) and torch.isfinite(out).all()
    assert torch.equal(out[~mask], torch.zeros(5, 8))
    out.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in encoder.parameters() if p.grad is not None)


def test_backward_stack_is_the_forward_computation_on_each_row_read_from_its_end():
    torch.manual_seed(0)
    args = (8, 2, 2, 16, 0.0, "learned", 10)
    forward_stack = TransformerStack(*args, direction="forward").eval()
    backward_stack = TransformerStack(*args, direction="backward").eval()
    backward_stack.load_state_dict(forward_stack.state_dict())
    x = torch.randn(2, 5, 8)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    with torch.no_grad():
        backward = backward_stack(x, mask)
        for row, length in enumerate([5, 3]):
            reversed_row = x[row:row + 1, :length].flip(1)
            expected = forward_stack(reversed_row, torch.ones(1, length, dtype=torch.bool)).flip(1)
            assert torch.allclose(backward[row, :length], expected[0], rtol=0, atol=1e-6)


def test_all_layers_and_sinusoidal_table():
    encoder = CausalTransformerEncoder(8, num_layers=3, num_heads=4, return_all_layers=True)
    out = encoder(torch.randn(2, 4, 8), torch.ones(2, 4, dtype=torch.bool))
    assert out.shape == (3, 2, 4, 8)
    table = encoder.stacks[0].position_embedding
    assert torch.equal(table[0, 0::2], torch.zeros(4)) and torch.equal(table[0, 1::2], torch.ones(4))
    assert "position_embedding" not in encoder.state_dict()  # derived, not saved


def test_config_errors_are_located():
    with pytest.raises(ConfigurationError, match="num_heads"):
        Seq2SeqEncoder.from_params({"type": "transformer", "input_dim": 6, "num_heads": 4})
    with pytest.raises(ConfigurationError) as info:
        Seq2SeqEncoder.from_params({"type": "transformer", "input_dim": 8, "positional_encoding": "learnt"})
    assert "positional_encoding" in str(info.value) and 'did you mean "learned"' in str(info.value)
    encoder = CausalTransformerEncoder(8, max_length=4)
    with pytest.raises(ConfigurationError, match="max_length"):
        encoder(torch.randn(1, 5, 8), torch.ones(1, 5, dtype=torch.bool))
