"""Property tests for every encoder that claims `no_peeking()`: causality, exact zero gradients, padding."""
import pytest
import torch

from lmlab.modules.seq2seq_encoders import Seq2SeqEncoder

pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")

H_IN = 8
CONFIGS = {
    "lstm": {"type": "lstm", "input_size": H_IN, "hidden_size": 5, "num_layers": 2},
    "gru": {"type": "gru", "input_size": H_IN, "hidden_size": 5, "num_layers": 2},
    "transformer": {"type": "transformer", "input_dim": H_IN, "num_layers": 2, "num_heads": 2},
    "transformer_learned_all_layers": {"type": "transformer", "input_dim": H_IN, "num_heads": 2,
                                       "positional_encoding": "learned", "return_all_layers": True},
    "bidirectional_lm_lstm": {"type": "bidirectional_lm_lstm", "input_size": H_IN, "hidden_size": 6},
    "bidirectional_lm_lstm_all_layers": {"type": "bidirectional_lm_lstm", "input_size": H_IN, "hidden_size": 6,
                                         "num_layers": 2, "projection_dim": 4, "use_skip_connections": True,
                                         "dropout": 0.5, "return_all_layers": True},
    "bidirectional_lm_transformer": {"type": "bidirectional_lm_transformer", "input_dim": H_IN, "num_heads": 2},
    "bidirectional_lm_transformer_all_layers": {"type": "bidirectional_lm_transformer", "input_dim": H_IN,
                                                "num_layers": 3, "num_heads": 4, "positional_encoding": "none",
                                                "return_all_layers": True},
    "basic_rnn": {"type": "basic_rnn", "input_size": H_IN, "hidden_size": 5, "num_layers": 2},
    "basic_rnn_gru_all_layers": {"type": "basic_rnn", "input_size": H_IN, "hidden_size": 5, "num_layers": 3,
                                 "unit": "gru", "dropout": 0.5, "return_all_layers": True},
    "dense_rnn": {"type": "dense_rnn", "input_size": H_IN, "hidden_size": 4, "num_layers": 3},
    "dense_rnn_gru_all_layers": {"type": "dense_rnn", "input_size": H_IN, "hidden_size": 4, "num_layers": 2,
                                 "unit": "gru", "return_all_layers": True},
    "ld_rnn": {"type": "ld_rnn", "input_size": H_IN, "hidden_size": 4, "num_layers": 3, "layer_dropout": 0.5,
               "dropout": 0.2},
    "ld_rnn_all_layers": {"type": "ld_rnn", "input_size": H_IN, "hidden_size": 4, "num_layers": 2,
                          "return_all_layers": True},
}
LENGTHS = [7, 5, 1]
T = 7


def _build(name):
    torch.manual_seed(0)
    encoder = Seq2SeqEncoder.from_params(dict(CONFIGS[name]))
    assert encoder.no_peeking()
    return encoder.eval()  # dropout off: the properties are about the function, not the noise


def _inputs():
    torch.manual_seed(1)
    mask = torch.arange(T).unsqueeze(0) < torch.tensor(LENGTHS).unsqueeze(1)  # (B, T)
    return torch.randn(len(LENGTHS), T, H_IN), mask


def _layers(output):
    """(L, B, T, H) whatever the encoder returned."""
    return output if output.dim() == 4 else output.unsqueeze(0)


def _halves(encoder, output):
    half = encoder.get_output_dim() // 2 if encoder.is_bidirectional() else encoder.get_output_dim()
    return output[..., :half], (output[..., half:] if encoder.is_bidirectional() else None)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_changing_later_tokens_leaves_earlier_forward_outputs_bit_identical(name):
    encoder = _build(name)
    x, mask = _inputs()
    with torch.no_grad():
        reference_forward, reference_backward = _halves(encoder, _layers(encoder(x, mask)))
        for t in range(T - 1):
            changed = x.clone()
            changed[:, t + 1:] = torch.randn_like(changed[:, t + 1:]) * 3
            forward, _ = _halves(encoder, _layers(encoder(changed, mask)))
            assert torch.equal(forward[:, :, :t + 1], reference_forward[:, :, :t + 1]), f"forward peeks at t={t}"
            if reference_backward is not None:
                changed = x.clone()
                changed[:, :t] = torch.randn_like(changed[:, :t]) * 3
                _, backward = _halves(encoder, _layers(encoder(changed, mask)))
                assert torch.equal(backward[:, :, t:], reference_backward[:, :, t:]), f"backward peeks at t={t}"


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_gradient_of_output_t_wrt_inputs_on_the_unseen_side_is_exactly_zero(name):
    encoder = _build(name)
    x, mask = _inputs()
    for t in range(T):
        for direction in ("forward", "backward"):
            if direction == "backward" and not encoder.is_bidirectional():
                continue
            inputs = x.clone().requires_grad_(True)
            forward, backward = _halves(encoder, _layers(encoder(inputs, mask)))
            chosen = forward if direction == "forward" else backward
            (chosen[:, :, t] * torch.randn_like(chosen[:, :, t])).sum().backward()
            if direction == "forward":
                unseen, seen = inputs.grad[:, t + 1:], inputs.grad[0, :t + 1]
            else:
                unseen, seen = inputs.grad[:, :t], inputs.grad[0, t:]
            assert torch.equal(unseen, torch.zeros_like(unseen)), f"{direction} gradient leaks at t={t}"
            assert seen.abs().sum() > 0  # the full-length row does depend on its visible side


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_padded_batch_equals_each_row_alone_and_padding_is_zero_and_ignored(name):
    encoder = _build(name)
    x, mask = _inputs()
    with torch.no_grad():
        batched = _layers(encoder(x, mask))
        garbage = x.masked_fill(~mask.unsqueeze(-1), 1e3)  # huge values in the padding must change nothing
        assert torch.equal(_layers(encoder(garbage, mask)), batched)
        for row, length in enumerate(LENGTHS):
            alone = _layers(encoder(x[row:row + 1, :length], torch.ones(1, length, dtype=torch.bool)))
            assert torch.allclose(batched[:, row, :length], alone[:, 0], rtol=0, atol=1e-6)
            assert torch.equal(batched[:, row, length:], torch.zeros_like(batched[:, row, length:]))


def test_a_standard_bidirectional_lstm_peeks_and_says_so():
    torch.manual_seed(0)
    encoder = Seq2SeqEncoder.from_params({"type": "lstm", "input_size": H_IN, "hidden_size": 5,
                                          "num_layers": 2, "bidirectional": True}).eval()
    assert encoder.is_bidirectional() and not encoder.no_peeking()
    x, mask = _inputs()
    changed = x.clone()
    changed[:, 3:] += 1.0
    with torch.no_grad():
        forward_before = encoder(x, mask)[0, :3, :5]
        forward_after = encoder(changed, mask)[0, :3, :5]
    assert not torch.equal(forward_before, forward_after)  # layer 2's forward half read layer 1's backward half
