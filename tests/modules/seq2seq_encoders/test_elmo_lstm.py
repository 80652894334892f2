"""elmo_lstm: the bilm-tf LSTM stacks as a language-model contextualizer (no peeking, stateless, shapes)."""
import pytest
import torch

from lmlab.common.errors import ConfigurationError
from lmlab.modules.elmo import ElmoLstm
from lmlab.modules.seq2seq_encoders import ElmoLstmSeq2SeqEncoder, Seq2SeqEncoder

pytestmark = pytest.mark.cross_path  # compares two code paths: re-run under every CPU kernel level

H_IN, P = 6, 4
CONFIG = {"type": "elmo_lstm", "input_size": H_IN, "hidden_size": 5, "projection_dim": P, "num_layers": 2,
          "cell_clip": 0.5, "proj_clip": 0.3}  # small clips, so that clipping really happens
LENGTHS = [7, 5, 1]
T = 7


def _build(**overrides):
    torch.manual_seed(0)
    encoder = Seq2SeqEncoder.from_params({**CONFIG, **overrides})
    with torch.no_grad():  # non-zero biases, so that every weight matters
        for bias in encoder.lstm.biases:
            bias.normal_()
    return encoder.eval()


def _inputs():
    torch.manual_seed(1)
    mask = torch.arange(T).unsqueeze(0) < torch.tensor(LENGTHS).unsqueeze(1)  # (B, T)
    return torch.randn(len(LENGTHS), T, H_IN) * 2, mask


def test_contract_and_shapes():
    encoder = _build()
    assert isinstance(encoder, ElmoLstmSeq2SeqEncoder)
    assert encoder.is_bidirectional() and encoder.no_peeking() and not encoder.supports_state()
    assert (encoder.get_input_dim(), encoder.get_output_dim(), encoder.num_layers) == (H_IN, 2 * P, 2)
    x, mask = _inputs()
    with torch.no_grad():
        top = encoder(x, mask)
        encoder.return_all_layers = True
        layers = encoder(x, mask)
    assert top.shape == (3, T, 2 * P) and layers.shape == (2, 3, T, 2 * P)
    assert torch.equal(layers[-1], top)
    assert layers[0].abs().max() <= 0.3  # projection clip; layer 1 adds the skip connection on top
    assert not torch.allclose(layers[1], layers[0])
    # The same numbers as the ElmoLstm it wraps (stateless), however often it is called.
    reference = ElmoLstm(H_IN, P, 5, 2, cell_clip=0.5, proj_clip=0.3, use_skip_connections=True, stateful=False)
    reference.load_state_dict(encoder.lstm.state_dict())
    with torch.no_grad():
        assert torch.equal(reference(x, mask), layers) and torch.equal(encoder(x, mask), layers)


def test_changing_later_tokens_leaves_earlier_forward_outputs_bit_identical_and_mirrored():
    encoder = _build(return_all_layers=True)
    x, mask = _inputs()
    with torch.no_grad():
        reference = encoder(x, mask)  # (L, B, T, 2P)
        for t in range(T - 1):
            changed = x.clone()
            changed[:, t + 1:] = torch.randn_like(changed[:, t + 1:]) * 3
            assert torch.equal(encoder(changed, mask)[..., :t + 1, :P], reference[..., :t + 1, :P]), t
            changed = x.clone()
            changed[:, :t] = torch.randn_like(changed[:, :t]) * 3
            assert torch.equal(encoder(changed, mask)[..., t:, P:], reference[..., t:, P:]), t


def test_gradient_of_output_t_wrt_the_unseen_side_is_exactly_zero():
    encoder = _build(return_all_layers=True)
    x, mask = _inputs()
    for t in range(T):
        for half, unseen in ((slice(0, P), slice(t + 1, None)), (slice(P, None), slice(0, t))):
            inputs = x.clone().requires_grad_(True)
            output = encoder(inputs, mask)[..., t, half]
            (output * torch.randn_like(output)).sum().backward()
            assert torch.equal(inputs.grad[:, unseen], torch.zeros_like(inputs.grad[:, unseen])), t


def test_padding_is_zero_and_ignored_and_rows_do_not_interact():
    encoder = _build(return_all_layers=True)
    x, mask = _inputs()
    with torch.no_grad():
        batched = encoder(x, mask)
        assert torch.equal(encoder(x.masked_fill(~mask.unsqueeze(-1), 1e3), mask), batched)
        # Padding is never read, not merely masked afterwards: NaN there would survive a multiplication by 0.
        assert torch.equal(encoder(x.masked_fill(~mask.unsqueeze(-1), float("nan")), mask), batched)
        for row, length in enumerate(LENGTHS):
            alone = encoder(x[row:row + 1, :length], torch.ones(1, length, dtype=torch.bool))
            assert torch.allclose(batched[:, row, :length], alone[:, 0], rtol=0, atol=1e-6)
            assert not batched[:, row, length:].any()


def test_dropout_applies_to_the_inputs_in_training_only():
    encoder = _build(dropout=0.5)
    x, mask = _inputs()
    with torch.no_grad():
        evaluated = encoder(x, mask)
        encoder.train()
        torch.manual_seed(3)
        trained = encoder(x, mask)
    assert not torch.equal(evaluated, trained)


def test_bad_configs_are_located():
    for key, value in (("num_layers", 0), ("dropout", 1.0), ("cell_clip", -1.0)):
        with pytest.raises(ConfigurationError, match=key):
            Seq2SeqEncoder.from_params({**CONFIG, key: value})
