"""`adaptive_softmax`: a proper distribution, NLL = -log_probs at the targets, cost only where targets fall."""
import pytest
import torch

from lmlab.common.errors import ConfigurationError
from lmlab.modules.softmax_losses import AdaptiveSoftmaxLoss, SoftmaxLoss

pytestmark = pytest.mark.cross_path  # compares two code paths: re-run under every CPU kernel level

V, D = 50, 16


def _loss(**extra) -> AdaptiveSoftmaxLoss:
    torch.manual_seed(0)
    config = {"type": "adaptive_softmax", "cutoffs": [10, 30], **extra}
    loss = SoftmaxLoss.from_params(config, num_words=V, embedding_dim=D)
    assert isinstance(loss, AdaptiveSoftmaxLoss)
    return loss


@pytest.mark.parametrize("training", [True, False])
def test_log_probs_are_a_distribution_and_the_nll_is_minus_the_log_prob_of_each_target(training):
    loss = _loss(head_bias=True).double().train(training)
    embeddings = torch.randn(4, 5, D, dtype=torch.float64)
    log_probs = loss.log_probs(embeddings)
    assert log_probs.shape == (4, 5, V)
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(4, 5, dtype=torch.float64), rtol=0, atol=1e-12)
    targets = torch.tensor([0, 3, 9, 10, 17, 29, 30, 42, 49, 1])  # head, both tail clusters, the edges
    rows = embeddings.reshape(-1, D)[:10]
    expected = -log_probs.reshape(-1, V)[:10].gather(1, targets.unsqueeze(1)).sum()
    assert torch.allclose(loss(rows, targets), expected, rtol=0, atol=1e-12)


def test_a_tail_cluster_costs_nothing_when_no_target_falls_in_it():
    loss = _loss()
    loss(torch.randn(6, D), torch.tensor([2, 5, 9, 12, 20, 29])).backward()  # head and first tail only
    head, (first, second) = loss.adaptive.head, loss.adaptive.tail
    assert head.weight.grad.abs().sum() > 0 and first[0].weight.grad.abs().sum() > 0
    assert second[0].weight.grad is None and second[1].weight.grad is None
    assert loss(torch.randn(0, D), torch.zeros(0, dtype=torch.long)).item() == 0.0
    assert [first[0].out_features, second[0].out_features] == [4, 1]  # D / 4, D / 16: rarer words cost less


def test_sizes_and_bad_configs_are_located():
    loss = _loss(div_value=2.0)
    assert [tail[0].out_features for tail in loss.adaptive.tail] == [8, 4]
    assert loss.adaptive.head.out_features == 10 + 2  # the head words and one entry per tail cluster
    assert loss.requires_frequency_sorted_vocabulary
    for cutoffs, problem in (([], r"at cutoffs: expected at least 1 item"),
                             ([30, 10], r"at cutoffs: expected strictly increasing values"),
                             ([10, 10], r"at cutoffs: expected strictly increasing values"),
                             ([0, 10], r"at cutoffs\[0\]: expected a value in \[1, inf\)"),
                             ([10, 50], rf"at cutoffs: expected ids below the vocabulary size V = {V}")):
        with pytest.raises(ConfigurationError, match=problem):
            _loss(cutoffs=cutoffs)
    with pytest.raises(ConfigurationError, match="at div_value: the last tail cluster's projection"):
        _loss(div_value=4.0, cutoffs=[10, 20, 30])  # 16 / 4^3 < 1
    with pytest.raises(ValueError, match="no single"):
        loss.tie_weights(torch.nn.Parameter(torch.zeros(V, D)))
