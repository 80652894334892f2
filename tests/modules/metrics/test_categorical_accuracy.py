import pytest
import torch

from lmlab.modules.metrics import CategoricalAccuracy


def test_counts_masked_positions_from_ids_or_scores():
    accuracy = CategoricalAccuracy()
    assert accuracy.get_metric() == 0.0
    gold = torch.tensor([[1, 2, 0], [0, 0, 0]])
    mask = torch.tensor([[True, True, True], [True, False, False]])
    accuracy(torch.tensor([[1, 0, 0], [0, 2, 2]]), gold, mask)  # 3 of the 4 counted positions right
    assert accuracy.get_metric() == pytest.approx(3 / 4)
    scores = torch.nn.functional.one_hot(torch.tensor([[1, 2, 1]]), 3).float()
    accuracy(scores, torch.tensor([[1, 2, 0]]))  # no mask: all 3 count, 2 right
    assert accuracy.get_metric(reset=True) == pytest.approx(5 / 7)
    assert accuracy.get_metric() == 0.0
    with pytest.raises(ValueError, match="do not match gold labels"):
        accuracy(torch.zeros(2, 3), torch.zeros(3, 2, dtype=torch.long))
