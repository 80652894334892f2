"""LD-Net's layer-selection objective and the proximal clipping of the gates."""
import pytest
import torch

from lmlab.common.errors import ConfigurationError
from lmlab.common.params import Params
from lmlab.modules.layer_selection import LayerSelection, clip_gates
from lmlab.modules.seq2seq_encoders import DenseRnn


def test_penalty_is_ldnets_regulariser_with_the_budget_term_only_over_budget():
    selection = LayerSelection.from_params(Params({"budget": 2, "strength": 0.5}))
    gates = torch.tensor([0.0, 0.5, 1.0, 0.25], requires_grad=True)
    # three non-zero gates > budget 2: 0.5 * (sum z(1-z) + sum of the non-zero z)
    penalty = selection.penalty(gates)
    assert penalty.item() == pytest.approx(0.5 * ((0.25 + 0.0 + 0.1875) + (0.5 + 1.0 + 0.25)))
    assert int(selection.active(gates)) == 3
    penalty.backward()
    # d/dz of 0.5 * (z(1-z) + z) for non-zero z; a zero gate gets only the first term's 0.5 * (1 - 0)
    assert gates.grad.tolist() == pytest.approx([0.5, 0.5 * (1 - 1.0 + 1), 0.5 * (1 - 2.0 + 1), 0.5 * (1 - 0.5 + 1)])
    within = torch.tensor([0.0, 0.5, 1.0, 0.0])
    assert selection.penalty(within).item() == pytest.approx(0.5 * 0.25)
    with pytest.raises(ConfigurationError, match=r"at budget: expected a value in \[0, inf\), found -1"):
        LayerSelection.from_params(Params({"budget": -1}))


def test_clip_gates_clips_trainable_gates_only():
    trained, fixed = DenseRnn(3, 2, num_layers=3), DenseRnn(3, 2, num_layers=2)
    trained.set_gates_trainable(True)
    with torch.no_grad():
        trained.gates.copy_(torch.tensor([-0.5, 0.5, 1.5]))
        fixed.gates.copy_(torch.tensor([-0.5, 1.5]))
    clip_gates(torch.nn.ModuleList([trained, fixed]))
    assert trained.gates.tolist() == [0.0, 0.5, 1.0] and isinstance(trained.gates, torch.nn.Parameter)
    assert fixed.gates.tolist() == [-0.5, 1.5]
