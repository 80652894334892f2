"""Sampled softmax: the exact formula for a seeded draw, the sampler's expected counts, the estimator's
bias and its limit, sparse gradients, accidental hits and the exact loss in eval mode."""
import math

import pytest
import torch

from lmlab.common.errors import ConfigurationError
from lmlab.modules.softmax_losses import FullSoftmaxLoss, LogUniformSampler, SampledSoftmaxLoss, SoftmaxLoss

pytestmark = pytest.mark.cross_path  # compares two code paths: re-run under every CPU kernel level

V, D = 50, 8


def _loss(num_samples, **extra):
    torch.manual_seed(0)
    loss = SoftmaxLoss.from_params({"type": "sampled_softmax", "num_samples": num_samples, **extra},
                                   num_words=V, embedding_dim=D)
    with torch.no_grad():
        loss.bias.normal_()
    return loss


def _full_loss(loss, embeddings, targets):
    logits = embeddings @ loss.weight.t() + loss.bias.t()  # (N, V)
    return torch.nn.functional.cross_entropy(logits, targets, reduction="sum")


def test_log_uniform_probabilities_sum_to_one_and_samples_are_distinct():
    sampler = LogUniformSampler(V, 20)
    p = sampler.log_probabilities.double().exp()
    assert torch.allclose(p.sum(), torch.tensor(1.0, dtype=torch.float64))
    assert torch.allclose(p[0], torch.tensor(math.log(2) / math.log(V + 1), dtype=torch.float64))
    ids, _ = sampler.sample()
    assert ids.shape == (20,) and ids.unique().numel() == 20 and 0 <= ids.min() and ids.max() < V


def test_expected_counts_make_an_unbiased_horvitz_thompson_estimate():
    """sum over sampled k of f(k) / pi_k estimates sum over all k of f(k) without bias."""
    torch.manual_seed(0)
    sampler = LogUniformSampler(V, 20)
    f = torch.rand(V)
    draws = 3000
    estimates = torch.empty(draws)
    for i in range(draws):
        ids, log_threshold = sampler.sample()
        estimates[i] = (f[ids] / sampler.log_expected_count(ids, log_threshold).exp()).sum()
    standard_error = estimates.std() / math.sqrt(draws)
    assert abs(estimates.mean() - f.sum()) < 4 * standard_error  # observed: |error| ~ 0.3% of the sum


def test_training_loss_matches_the_formula_for_a_seeded_draw():
    loss = _loss(20)
    embeddings, targets = torch.randn(6, D), torch.tensor([0, 1, 1, 7, 30, 49])
    torch.manual_seed(123)
    value = loss(embeddings, targets)
    torch.manual_seed(123)
    ids, log_threshold = loss.sampler.sample()
    log_q = lambda k: loss.sampler.log_expected_count(k, log_threshold)  # noqa: E731
    weight, bias = loss.weight, loss.bias[:, 0]
    expected = 0.0
    for row in range(6):  # a plain loop, on purpose: the reference is written differently from the module
        target = int(targets[row])
        true_logit = embeddings[row] @ weight[target] + bias[target] - log_q(targets[row:row + 1])[0]
        logits = [true_logit] + [embeddings[row] @ weight[k] + bias[k] - log_q(k.view(1))[0]
                                 for k in ids if int(k) != target]  # accidental hits removed
        expected = expected + torch.logsumexp(torch.stack(logits), 0) - true_logit
    assert torch.allclose(value, expected, rtol=1e-5, atol=1e-5)
    assert (ids == 0).any()  # id 0 (pi ~ 1) was sampled, so target 0 was an accidental hit here


def test_accidental_hits_do_not_contribute():
    kept, removed = _loss(20, remove_accidental_hits=False), _loss(20)
    embeddings, targets = torch.randn(4, D), torch.tensor([0, 0, 0, 2])  # id 0 has pi ~ 1: always sampled
    torch.manual_seed(5)
    ids, _ = removed.sampler.sample()
    assert (ids == 0).any() and (ids == 2).any()
    torch.manual_seed(5)
    with_hits = kept(embeddings, targets)
    nll_without = []
    for row in range(4):  # the same draw for every row: the draw is the first use of the generator
        torch.manual_seed(5)
        nll_without.append(removed(embeddings[row:row + 1], targets[row:row + 1]))
    nll_without = torch.stack(nll_without)
    # a kept hit puts the target's own corrected logit t in the softmax a second time:
    # lse(a + [t]) - t = nll + log(1 + exp(-nll)), with nll = lse(a) - t the loss without it
    assert torch.allclose(with_hits, (nll_without + torch.log1p(torch.exp(-nll_without))).sum())


def test_sampled_mean_approaches_the_full_loss_as_samples_approach_v():
    """The log-Q corrected sampled loss is biased low but consistent.

    Observed with these seeds (500 draws, standard error ~0.1%): uniform targets, S=20 of V=50: the mean
    is ~25% below the full loss, because the true logit is also corrected by log pi_target, which shrinks
    the partition estimate by pi_target for rare targets; frequent targets (pi ~ 1): ~2-3% below
    (Jensen: E log Z_hat <= log E Z_hat); S = V-1 = 49: within 0.5%.
    """
    embeddings, targets = torch.randn(16, D), torch.randint(0, V, (16,))
    frequent_targets = torch.randint(0, 3, (16,))

    def mean_sampled(loss, targets, draws=500):
        with torch.no_grad():
            return torch.stack([loss(embeddings, targets) for _ in range(draws)]).mean()

    few = _loss(20)
    full = _full_loss(few, embeddings, targets).detach()
    gap_few = 1 - mean_sampled(few, targets) / full
    assert 0.05 < gap_few < 0.40
    full_frequent = _full_loss(few, embeddings, frequent_targets).detach()
    gap_frequent = 1 - mean_sampled(few, frequent_targets) / full_frequent
    assert 0.0 < gap_frequent < 0.05

    many = _loss(V - 1)  # same seed, so the same weights as `few`
    assert torch.equal(many.weight, few.weight)
    gap_many = 1 - mean_sampled(many, targets) / full
    assert abs(gap_many) < 0.01 and abs(gap_many) < gap_few / 10


def test_sparse_gradient_rows_are_exactly_targets_and_samples():
    loss = _loss(10, sparse=True)
    embeddings, targets = torch.randn(5, D, requires_grad=True), torch.tensor([3, 3, 9, 41, 17])
    torch.manual_seed(7)
    loss(embeddings, targets).backward()
    torch.manual_seed(7)
    ids, _ = loss.sampler.sample()
    expected_rows = torch.cat([targets, ids]).unique()
    for parameter in (loss.weight, loss.bias):
        assert parameter.grad.is_sparse
        assert torch.equal(parameter.grad.coalesce().indices()[0].sort().values, expected_rows)


def test_dense_gradient_touches_the_same_rows():
    loss = _loss(10)
    embeddings = torch.randn(3, D)
    torch.manual_seed(7)
    loss(embeddings, torch.tensor([4, 5, 6])).backward()
    assert not loss.weight.grad.is_sparse
    torch.manual_seed(7)
    ids, _ = loss.sampler.sample()
    touched = (loss.weight.grad != 0).any(dim=1).nonzero().flatten()
    assert torch.equal(touched, torch.cat([torch.tensor([4, 5, 6]), ids]).unique())


def test_eval_mode_is_the_exact_full_softmax_with_the_same_weights():
    loss = _loss(20).eval()
    full = FullSoftmaxLoss(V, D)
    with torch.no_grad():
        full.weight.copy_(loss.weight)
        full.bias.copy_(loss.bias[:, 0])
    embeddings, targets = torch.randn(7, D), torch.randint(0, V, (7,))
    assert torch.equal(loss(embeddings, targets), full(embeddings, targets))
    assert torch.allclose(loss.log_probs(embeddings), full.log_probs(embeddings))


def test_unk_samples_are_dropped_and_bad_sizes_are_config_errors():
    loss = _loss(20, unk_id=0)
    embeddings, targets = torch.randn(3, D), torch.tensor([5, 6, 7])
    torch.manual_seed(3)
    value = loss(embeddings, targets)
    # dropping unk == treating it as an accidental hit of every row: raise its logit to -inf by hand
    no_unk = _loss(20)
    with torch.no_grad():
        no_unk.bias[0] = float("-inf")
    torch.manual_seed(3)
    assert torch.allclose(value, no_unk(embeddings, targets))
    with pytest.raises(ConfigurationError, match="num_samples"):
        SoftmaxLoss.from_params({"type": "sampled_softmax", "num_samples": V}, num_words=V, embedding_dim=D)
    assert isinstance(SoftmaxLoss.from_params({"type": "sampled_softmax", "num_samples": 1}, num_words=V,
                                              embedding_dim=D), SampledSoftmaxLoss)


@pytest.mark.parametrize("sparse", [False, True])
def test_gradients_match_autograd_through_the_formula_for_a_seeded_draw(sparse):
    """The fused backward pass against autograd through the same loss written with plain ops (the
    targets' and samples' rows looked up, hits and the unk sample masked), on a draw with both."""
    loss = _loss(20, sparse=sparse, unk_id=1)
    embeddings = torch.randn(6, D, dtype=torch.float64, requires_grad=True)
    loss.double()
    targets = torch.tensor([0, 1, 1, 7, 30, 49])
    torch.manual_seed(123)
    ids, log_threshold = loss.sampler.sample()
    assert (ids == 0).any() and (ids == 1).any()  # an accidental hit (targets 0 and 1) and the unk sample
    weight = loss.weight.detach().clone().requires_grad_()
    bias = loss.bias.detach().clone().requires_grad_()
    reference_embeddings = embeddings.detach().clone().requires_grad_()
    all_ids = torch.cat([targets, ids])
    offsets = bias[all_ids, 0] - loss.sampler.log_expected_count(all_ids, log_threshold).double()
    true_logits = (weight[targets] * reference_embeddings).sum(1) + offsets[:6]
    sampled_logits = reference_embeddings @ weight[ids].t() + offsets[6:]
    dropped = (targets.unsqueeze(1) == ids.unsqueeze(0)) | (ids == 1).unsqueeze(0)
    logits = torch.cat([true_logits.unsqueeze(1), sampled_logits.masked_fill(dropped, float("-inf"))], dim=1)
    (torch.logsumexp(logits, dim=1) - true_logits).sum().mul(2.5).backward()  # a non-unit output gradient
    torch.manual_seed(123)
    loss(embeddings, targets).mul(2.5).backward()
    for ours, theirs in ((loss.weight.grad, weight.grad), (loss.bias.grad, bias.grad),
                         (embeddings.grad, reference_embeddings.grad)):
        assert ours.is_sparse == (sparse and ours is not embeddings.grad)
        assert torch.allclose(ours.to_dense(), theirs, rtol=1e-10, atol=1e-12)
    assert loss.weight.grad.to_dense()[ids[ids > 1][0]].abs().sum() > 0  # samples do get a gradient


def test_training_loss_can_be_differentiated_once_per_forward():
    loss = _loss(20)
    value = loss(torch.randn(4, D, requires_grad=True), torch.tensor([2, 3, 4, 5]))
    value.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="only once per forward pass"):
        value.backward()
