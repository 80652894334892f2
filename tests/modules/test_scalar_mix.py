import pytest
import torch

from lmlab.common.errors import ConfigurationError
from lmlab.modules.scalar_mix import ScalarMix


def _layers(seed: int = 0, shape=(2, 5, 4), count: int = 3):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=generator) for _ in range(count)]


def test_default_weights_average_the_layers():
    tensors = _layers()
    mixed = ScalarMix(3)(tensors)
    torch.testing.assert_close(mixed, sum(tensors) / 3)


@pytest.mark.parametrize("selected", [0, 1, 2])
def test_one_hot_weights_select_one_layer_exactly(selected):
    parameters = [-9e10] * 3
    parameters[selected] = 1.0
    tensors = _layers()
    mixed = ScalarMix(3, initial_scalar_parameters=parameters)(tensors)
    assert torch.equal(mixed, tensors[selected])


def test_gamma_scales_the_mix():
    tensors = _layers()
    mix = ScalarMix(3, initial_scalar_parameters=[0.5, -1.0, 2.0])
    before = mix(tensors)
    with torch.no_grad():
        mix.gamma.fill_(2.5)
    torch.testing.assert_close(mix(tensors), 2.5 * before)


def test_layer_norm_uses_real_positions_only():
    tensors = [t * 3.0 + 1.5 for t in _layers(shape=(3, 6, 4))]
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2, [True] + [False] * 5])
    mix = ScalarMix(3, do_layer_norm=True, initial_scalar_parameters=[-9e10, 1.0, -9e10])
    mixed = mix(tensors, mask)
    real = mixed[mask]  # (n, 4)
    assert abs(real.mean().item()) < 1e-5
    assert abs(real.var(unbiased=False).item() - 1.0) < 1e-4
    # Changing the padding changes nothing at real positions.
    noisy = [torch.where(mask.unsqueeze(-1), t, torch.full_like(t, 100.0)) for t in tensors]
    torch.testing.assert_close(mix(noisy, mask)[mask], real)


def test_gradients_reach_weights_and_gamma():
    mix = ScalarMix(3, initial_scalar_parameters=[0.1, 0.2, 0.3])
    mix(_layers()).pow(2).sum().backward()
    assert mix.scalar_parameters.grad is not None and torch.all(mix.scalar_parameters.grad != 0)
    assert mix.gamma.grad is not None and mix.gamma.grad.item() != 0


def test_not_trainable_freezes_parameters():
    mix = ScalarMix(3, initial_scalar_parameters=[0.0, 1.0, 0.0], trainable=False)
    assert not any(p.requires_grad for p in mix.parameters())


def test_errors_on_wrong_counts():
    with pytest.raises(ConfigurationError, match="initial_scalar_parameters"):
        ScalarMix(3, initial_scalar_parameters=[0.0, 1.0])
    with pytest.raises(ValueError, match="expected 3 tensors"):
        ScalarMix(3)(_layers(count=2))
    with pytest.raises(ValueError, match="mask"):
        ScalarMix(3, do_layer_norm=True)(_layers())
