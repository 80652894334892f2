"""`basic_rnn`: the same function as torch's multi-layer RNN, dropout between layers only, gates."""
import pytest
import torch

from lmlab.modules.seq2seq_encoders import BasicRnn, Seq2SeqEncoder


def _basic(**extra) -> BasicRnn:
    torch.manual_seed(0)
    encoder = Seq2SeqEncoder.from_params({"type": "basic_rnn", "input_size": 4, "hidden_size": 3, "num_layers": 3,
                                          **extra})
    assert isinstance(encoder, BasicRnn)
    return encoder


@pytest.mark.parametrize("unit", ["lstm", "gru"])
def test_equals_torchs_multi_layer_rnn_with_the_same_weights(unit):
    encoder = _basic(unit=unit).eval()
    reference = (torch.nn.LSTM if unit == "lstm" else torch.nn.GRU)(4, 3, num_layers=3, batch_first=True)
    with torch.no_grad():
        for index, layer in enumerate(encoder.rnn_layers()):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(reference, f"{name}_l{index}").copy_(getattr(layer.rnn, f"{name}_l0"))
        x = torch.randn(2, 7, 4)
        mask = torch.tensor([[True] * 7, [True] * 4 + [False] * 3])
        expected, _ = reference(x)
        output = encoder(x, mask)
    assert output.shape == (2, 7, 3) and encoder.get_output_dim() == 3
    assert torch.allclose(output[0], expected[0], rtol=0, atol=1e-6)
    assert torch.allclose(output[1, :4], expected[1, :4], rtol=0, atol=1e-6)
    assert torch.equal(output[1, 4:], torch.zeros(3, 3))


def test_dropout_is_applied_between_layers_only():
    encoder = _basic(dropout=0.5, return_all_layers=True)
    x, mask = torch.randn(2, 7, 4), torch.ones(2, 7, dtype=torch.bool)
    with torch.no_grad():
        clean = encoder.eval()(x, mask)
        torch.manual_seed(1)
        noisy = encoder.train()(x, mask)
    assert noisy.shape == (3, 2, 7, 3)
    assert torch.equal(noisy[0], clean[0])  # the first layer reads the undropped input
    assert not torch.allclose(noisy[1], clean[1], atol=1e-3)


def test_gates_scale_what_the_next_layer_reads_and_the_output():
    encoder = _basic(return_all_layers=True).eval()
    x, mask = torch.randn(2, 7, 4), torch.ones(2, 7, dtype=torch.bool)
    with torch.no_grad():
        before = encoder(x, mask)
        encoder.gates.copy_(torch.tensor([0.0, 1.0, 2.0]))
        after = encoder(x, mask)
        layer_1_on_zeros, _ = encoder.rnn_layers()[1].rnn(torch.zeros(2, 7, 3))
        layer_2, _ = encoder.rnn_layers()[2].rnn(layer_1_on_zeros)
    assert torch.equal(after[0], torch.zeros_like(after[0]))
    assert torch.allclose(after[1], layer_1_on_zeros, rtol=0, atol=1e-6)  # layer 1 read layer 0 gated to zero
    assert torch.allclose(after[2], 2.0 * layer_2, rtol=0, atol=1e-6)
    assert not torch.allclose(after[1], before[1], atol=1e-3)
    encoder.return_all_layers = False
    with torch.no_grad():
        assert torch.equal(encoder(x, mask), after[2])
