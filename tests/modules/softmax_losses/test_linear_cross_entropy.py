"""`linear_cross_entropy` against autograd's own `cross_entropy(linear(...))`: values, gradients, autocast."""
import pytest
import torch
from torch.nn import functional as F

from lmlab.modules.softmax_losses.linear_cross_entropy import linear_cross_entropy

pytestmark = pytest.mark.cross_path  # compares two code paths: re-run under every CPU kernel level


def _problem(dtype: torch.dtype, bias: bool, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(13, 6, generator=generator, dtype=dtype).requires_grad_()
    weight = torch.randn(29, 6, generator=generator, dtype=dtype).requires_grad_()
    bias_ = torch.randn(29, generator=generator, dtype=dtype).requires_grad_() if bias else None
    targets = torch.randint(0, 29, (13,), generator=generator)
    return inputs, weight, bias_, targets


@pytest.mark.parametrize("bias", [True, False])
def test_gradients_equal_central_differences_in_double_precision(bias):
    # (gradcheck differentiates one graph twice, which this function refuses: its logits become the gradient)
    inputs, weight, bias_, targets = _problem(torch.float64, bias)
    linear_cross_entropy(inputs, weight, bias_, targets).backward()
    step = 1e-6
    for parameter in [t for t in (inputs, weight, bias_) if t is not None]:
        numerical = torch.zeros_like(parameter)
        with torch.no_grad():
            for index in range(parameter.numel()):
                original = parameter.view(-1)[index].item()
                parameter.view(-1)[index] = original + step
                above = linear_cross_entropy(inputs, weight, bias_, targets)
                parameter.view(-1)[index] = original - step
                below = linear_cross_entropy(inputs, weight, bias_, targets)
                parameter.view(-1)[index] = original
                numerical.view(-1)[index] = (above - below) / (2 * step)
        torch.testing.assert_close(parameter.grad, numerical, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("bias", [True, False])
def test_value_and_gradients_equal_cross_entropy_of_linear(bias):
    fused = _problem(torch.float32, bias)
    reference = [None if t is None else t.detach().clone().requires_grad_(t.requires_grad) for t in fused]
    loss = linear_cross_entropy(*fused)
    expected = F.cross_entropy(F.linear(reference[0], reference[1], reference[2]), reference[3], reduction="sum")
    (2.5 * loss).backward()  # a gradient other than 1 reaches the function
    (2.5 * expected).backward()
    torch.testing.assert_close(loss, expected, rtol=1e-6, atol=1e-5)
    for mine, theirs in zip(fused[:3], reference[:3], strict=True):
        if mine is not None:
            torch.testing.assert_close(mine.grad, theirs.grad, rtol=1e-5, atol=1e-6)


def test_only_the_inputs_gradient_when_the_layer_is_frozen():
    inputs, weight, bias, targets = _problem(torch.float32, True)
    weight.requires_grad_(False)
    bias.requires_grad_(False)
    linear_cross_entropy(inputs, weight, bias, targets).backward()
    expected = inputs.detach().clone().requires_grad_()
    F.cross_entropy(F.linear(expected, weight, bias), targets, reduction="sum").backward()
    torch.testing.assert_close(inputs.grad, expected.grad, rtol=1e-5, atol=1e-6)
    assert weight.grad is None and bias.grad is None


def test_autocast_bfloat16_matches_autocast_cross_entropy():
    inputs, weight, bias, targets = _problem(torch.float32, True, seed=3)
    reference = [t.detach().clone().requires_grad_() for t in (inputs, weight, bias)]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = linear_cross_entropy(inputs, weight, bias, targets)
        expected = F.cross_entropy(F.linear(*reference), targets, reduction="sum")
    assert loss.dtype == expected.dtype == torch.float32
    loss.backward()
    expected.backward()
    torch.testing.assert_close(loss, expected, rtol=1e-3, atol=1e-3)  # the same bf16 logits, then float32
    for mine, theirs in zip((inputs, weight, bias), reference, strict=True):
        assert mine.grad.dtype == torch.float32
        torch.testing.assert_close(mine.grad, theirs.grad, rtol=2e-2, atol=2e-2)


def test_a_second_backward_through_the_same_graph_raises():
    loss = linear_cross_entropy(*_problem(torch.float32, True))
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="only once"):
        loss.backward()
