"""`dense_rnn`: dense connectivity, gates, trainable gates and layer pruning, against a hand-written oracle."""
from typing import List

import pytest
import torch

from lmlab.common.errors import ConfigurationError
from lmlab.modules.seq2seq_encoders import DenseRnn, Seq2SeqEncoder

pytestmark = pytest.mark.cross_path  # compares two code paths: re-run under every CPU kernel level

I, H, L = 4, 3, 3  # noqa: E741  (input, hidden, layers: the names the docstrings use)
LENGTHS = [6, 4, 1]


def _encoder(**extra) -> DenseRnn:
    torch.manual_seed(0)
    config = {"type": "dense_rnn", "input_size": I, "hidden_size": H, "num_layers": L, **extra}
    encoder = Seq2SeqEncoder.from_params(config).eval()
    assert isinstance(encoder, DenseRnn)
    return encoder


def _batch():
    torch.manual_seed(1)
    mask = torch.arange(6).unsqueeze(0) < torch.tensor(LENGTHS).unsqueeze(1)  # (B, T)
    return torch.randn(len(LENGTHS), 6, I), mask


def _oracle(encoder: DenseRnn, x, mask, gates, read_scales=None):
    """Every layer's output and the dense output, computed row by row with the layers' own torch RNNs."""
    rows_layers, rows_output = [], []
    for row, length in enumerate(mask.sum(1).tolist()):
        inputs = x[row:row + 1, :length]  # (1, t, I): no padding at all
        outputs: List[torch.Tensor] = []
        for index, layer in enumerate(encoder.rnn_layers()):
            below = [out * (1.0 if read_scales is None else read_scales[k]) for k, out in enumerate(outputs)]
            out, _ = layer.rnn(torch.cat([inputs, *below], dim=-1))  # (1, t, H)
            outputs.append(out * gates[index])
        pad = x.shape[1] - length
        layers = torch.stack([torch.nn.functional.pad(o[0], (0, 0, 0, pad)) for o in outputs])  # (L, T, H)
        rows_layers.append(layers)
        rows_output.append(torch.nn.functional.pad(torch.cat([inputs, *outputs], dim=-1)[0], (0, 0, 0, pad)))
    return torch.stack(rows_layers, dim=1), torch.stack(rows_output)  # (L, B, T, H), (B, T, I + L*H)


def test_layer_k_reads_input_plus_k_layers_and_the_output_is_input_plus_every_layer():
    encoder = _encoder()
    assert [layer.rnn.input_size for layer in encoder.rnn_layers()] == [I, I + H, I + 2 * H]
    assert encoder.get_input_dim() == I and encoder.get_output_dim() == I + L * H
    x, mask = _batch()
    with torch.no_grad():
        output = encoder(x, mask)
        expected_layers, expected = _oracle(encoder, x, mask, torch.ones(L))
    assert output.shape == (3, 6, I + L * H)
    assert torch.allclose(output, expected, rtol=0, atol=1e-6)
    assert torch.equal(output[..., :I], x * mask.unsqueeze(-1))  # the input itself, zeros at padding
    all_layers = _encoder(return_all_layers=True)
    with torch.no_grad():
        layers = all_layers(x, mask)
    assert layers.shape == (L, 3, 6, H)
    assert torch.allclose(layers, expected_layers, rtol=0, atol=1e-6)
    assert torch.equal(torch.cat([x * mask.unsqueeze(-1), *layers], dim=-1), output)


def test_gates_multiply_each_layer_where_later_layers_read_it_and_in_the_output():
    encoder = _encoder()
    gates = torch.tensor([0.5, 0.0, 2.0])
    encoder.gates.copy_(gates)
    x, mask = _batch()
    with torch.no_grad():
        output = encoder(x, mask)
        _, expected = _oracle(encoder, x, mask, gates)
        _, ungated = _oracle(encoder, x, mask, torch.ones(L))
    assert torch.allclose(output, expected, rtol=0, atol=1e-6)
    block = slice(I + H, I + 2 * H)
    assert torch.equal(output[..., block], torch.zeros_like(output[..., block]))  # a closed gate
    # layer 0 is computed as before and only scaled; what layer 2 computes changed (it read the gated layers)
    assert torch.allclose(output[..., I:I + H], 0.5 * ungated[..., I:I + H], rtol=0, atol=1e-6)
    assert not torch.allclose(output[..., I + 2 * H:], 2.0 * ungated[..., I + 2 * H:], atol=1e-3)


def test_trainable_gates_keep_values_and_state_dict_key_and_receive_gradients():
    encoder = _encoder()
    encoder.gates.fill_(0.7)
    assert "gates" in dict(encoder.named_buffers()) and "gates" not in dict(encoder.named_parameters())
    buffer_state = {k: v.clone() for k, v in encoder.state_dict().items()}
    encoder.set_gates_trainable(True)
    assert isinstance(encoder.gates, torch.nn.Parameter) and encoder.gates.requires_grad
    assert torch.equal(encoder.gates.detach(), torch.full((L,), 0.7))
    assert set(encoder.state_dict()) == set(buffer_state)  # same keys, "gates" included
    x, mask = _batch()
    encoder(x, mask).sum().backward()
    assert encoder.gates.grad is not None and encoder.gates.grad.abs().min() > 0
    # checkpoints load either way
    fresh = _encoder()
    fresh.set_gates_trainable(True)
    fresh.load_state_dict(buffer_state)
    assert torch.equal(fresh.gates.detach(), torch.full((L,), 0.7))
    encoder.set_gates_trainable(False)
    assert not isinstance(encoder.gates, torch.nn.Parameter) and "gates" in dict(encoder.named_buffers())
    with torch.no_grad():
        encoder.load_state_dict(fresh.state_dict())
        assert torch.equal(encoder(x, mask), fresh(x, mask))


@pytest.mark.parametrize("keep", [[0, 2], [1], [2], [0, 1, 2], []])
def test_pruning_layers_with_closed_gates_keeps_the_remaining_output_columns(keep):
    encoder = _encoder()
    removed = [layer for layer in range(L) if layer not in keep]
    encoder.gates[removed] = 0.0
    encoder.gates[keep] = torch.tensor([1.5, 0.5, 1.0][:len(keep)])
    x, mask = _batch()
    with torch.no_grad():
        before = encoder(x, mask)
        columns = encoder.prune_layers(keep)
        after = encoder(x, mask)
    expected_columns = list(range(I)) + [I + k * H + j for k in keep for j in range(H)]
    assert columns.dtype == torch.long and columns.tolist() == expected_columns
    assert encoder.num_layers == len(keep) and encoder.get_output_dim() == I + len(keep) * H
    assert [layer.rnn.input_size for layer in encoder.rnn_layers()] == [I + k * H for k in range(len(keep))]
    assert torch.equal(encoder.gates, torch.tensor([1.5, 0.5, 1.0][:len(keep)]))
    # removing a zero-gated layer removes only zero terms from later layers' input sums: equal to 1e-6
    # (not bit-equal: a shorter dot product may be summed in a different order)
    assert torch.allclose(after, before[..., columns], rtol=0, atol=1e-6)


def test_pruning_keeps_trainable_gates_trainable_and_shrinks_the_carried_state():
    encoder = _encoder(stateful=True)
    x, mask = _batch()
    encoder(x, torch.ones_like(mask))
    assert encoder.state_dict()["_extra_state"].shape == (L, 2, 3, H)  # (L, h and c, B, H)
    encoder.set_gates_trainable(True)
    encoder.prune_layers([0, 2])
    assert isinstance(encoder.gates, torch.nn.Parameter) and encoder.gates.shape == (2,)
    assert encoder.state_dict()["_extra_state"].shape == (2, 2, 3, H)
    assert encoder(x, mask).shape == (3, 6, I + 2 * H)
    with pytest.raises(ValueError, match=r"distinct layer indices in \[0, 2\)"):
        encoder.prune_layers([0, 2])
    with pytest.raises(ValueError, match="distinct"):
        encoder.prune_layers([1, 1])


def test_gru_unit_return_all_layers_and_config_errors():
    encoder = _encoder(unit="gru", return_all_layers=True)
    assert isinstance(encoder.rnn_layers()[0].rnn, torch.nn.GRU)
    x, mask = _batch()
    layers = encoder(x, mask)
    assert layers.shape == (L, 3, 6, H)
    assert torch.equal(layers[:, ~mask], torch.zeros(L, int((~mask).sum()), H))
    with pytest.raises(ConfigurationError, match="unit"):
        _encoder(unit="rnn")
    with pytest.raises(ConfigurationError, match=r"at num_layers: expected a value in \[1, inf\), found 0"):
        _encoder(num_layers=0)
    with pytest.raises(ConfigurationError, match="at dropout"):
        _encoder(dropout=1.0)
