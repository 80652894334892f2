"""`ld_rnn`: layer-wise dropout acts only in training, only on the path later layers read, per batch."""
import itertools
from typing import List

import pytest
import torch

from lmlab.common.errors import ConfigurationError
from lmlab.modules.seq2seq_encoders import DenseRnn, LdRnn, Seq2SeqEncoder

pytestmark = pytest.mark.cross_path  # compares two code paths: re-run under every CPU kernel level

I, H, L = 4, 3, 3  # noqa: E741  (input, hidden, layers: the names the docstrings use)


def _pair(layer_dropout=0.5):
    """An ld_rnn and a dense_rnn with the same weights (no ordinary dropout: only layer dropout is random)."""
    torch.manual_seed(0)
    config = {"input_size": I, "hidden_size": H, "num_layers": L}
    ld = Seq2SeqEncoder.from_params({"type": "ld_rnn", "layer_dropout": layer_dropout, **config})
    dense = Seq2SeqEncoder.from_params({"type": "dense_rnn", **config})
    dense.load_state_dict(ld.state_dict())
    return ld, dense


def _layer_outputs(encoder: DenseRnn, x, read_scales):
    """(L, B, T, H) layer outputs when layer k's output reaches later layers multiplied by read_scales[k]."""
    outputs: List[torch.Tensor] = []
    for layer in encoder.rnn_layers():
        out, _ = layer.rnn(torch.cat([x, *[o * s for o, s in zip(outputs, read_scales, strict=False)]], dim=-1))
        outputs.append(out)
    return torch.stack(outputs)


def test_in_evaluation_nothing_is_dropped():
    ld, dense = _pair(layer_dropout=0.9)
    assert isinstance(ld, LdRnn) and isinstance(ld, DenseRnn) and ld.get_output_dim() == I + L * H
    x, mask = torch.randn(2, 5, I), torch.ones(2, 5, dtype=torch.bool)
    ld.eval(), dense.eval()
    with torch.no_grad():
        for _ in range(5):
            assert torch.equal(ld(x, mask), dense(x, mask))


def test_in_training_whole_layers_are_dropped_on_the_upward_path_only_and_per_batch():
    ld, _ = _pair(layer_dropout=0.5)
    ld.train()
    x, mask = torch.randn(2, 5, I), torch.ones(2, 5, dtype=torch.bool)
    # the layer outputs for every pattern of dropped layers below the top (the top's drop is never read)
    patterns = {pattern: _layer_outputs(ld, x, pattern) for pattern in itertools.product([0.0, 1.0], repeat=L - 1)}
    seen = []
    torch.manual_seed(3)
    with torch.no_grad():
        for _ in range(200):
            output = ld(x, mask)  # (B, T, I + L*H)
            layers = torch.stack(output[..., I:].split(H, dim=-1))  # (L, B, T, H)
            matches = [p for p, expected in patterns.items() if torch.allclose(layers, expected, rtol=0, atol=1e-6)]
            assert len(matches) == 1  # the whole batch (every row, every position) follows one pattern
            seen.append(matches[0])
            assert torch.equal(output[..., :I], x)
            # the output path always carries each layer's real output: layer 0 is never zeros there
            assert torch.allclose(layers[0], patterns[(1.0, 1.0)][0], rtol=0, atol=1e-6)
    frequency = {pattern: seen.count(pattern) / len(seen) for pattern in patterns}
    for share in frequency.values():
        assert 0.15 < share < 0.35, frequency  # each of the 4 patterns has probability 1/4


def test_zero_layer_dropout_trains_like_dense_rnn_and_bad_probability_is_a_config_error():
    ld, dense = _pair(layer_dropout=0.0)
    ld.train(), dense.train()
    x, mask = torch.randn(2, 5, I), torch.ones(2, 5, dtype=torch.bool)
    assert torch.equal(ld(x, mask), dense(x, mask))
    with pytest.raises(ConfigurationError, match=r"at layer_dropout: expected a value in \[0, 1\), found 1.0"):
        Seq2SeqEncoder.from_params({"type": "ld_rnn", "input_size": I, "hidden_size": H, "layer_dropout": 1.0})


def test_gradients_do_not_flow_through_a_dropped_upward_path():
    ld, _ = _pair(layer_dropout=0.5)
    ld.train()
    x, mask = torch.randn(2, 5, I), torch.ones(2, 5, dtype=torch.bool)
    torch.manual_seed(0)
    found = False
    for _ in range(50):
        ld.zero_grad()
        output = ld(x, mask)
        top = output[..., I + 2 * H:]
        layers = torch.stack(output[..., I:].split(H, dim=-1))
        if torch.allclose(layers, _layer_outputs(ld, x, (0.0, 0.0)), rtol=0, atol=1e-6):
            top.sum().backward()  # the top layer read neither layer 0 nor layer 1
            weight = ld.rnn_layers()[0].rnn.weight_ih_l0
            assert weight.grad is not None and torch.equal(weight.grad, torch.zeros_like(weight))
            found = True
            break
    assert found
