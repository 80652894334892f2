"""`SoftmaxLoss.target_log_probs`: the targets' log-probabilities in chunks, never an (N, V) block."""
from unittest import mock

import pytest
import torch

from lmlab.modules.softmax_losses import AdaptiveSoftmaxLoss, FullSoftmaxLoss, SampledSoftmaxLoss

pytestmark = pytest.mark.cross_path  # compares two code paths: re-run under every CPU kernel level

V, D, N = 60, 8, 23


def _losses():
    torch.manual_seed(0)
    return {"softmax": FullSoftmaxLoss(V, D), "sampled_softmax": SampledSoftmaxLoss(V, D, num_samples=10),
            "adaptive_softmax": AdaptiveSoftmaxLoss(V, D, cutoffs=[10, 30], div_value=2.0)}


def _inputs():
    torch.manual_seed(1)
    return torch.randn(N, D), torch.randint(0, V, (N,))


@pytest.mark.parametrize("name", ["softmax", "sampled_softmax", "adaptive_softmax"])
@pytest.mark.parametrize("training", [False, True])
def test_target_log_probs_equal_the_full_log_probs_at_the_targets_in_any_mode(name, training):
    loss = _losses()[name].train(training)
    embeddings, targets = _inputs()
    expected = loss.log_probs(embeddings).gather(1, targets.unsqueeze(1)).squeeze(1)  # via the (N, V) block
    for chunk_size in (None, 1, 5, N, 100):
        assert torch.allclose(loss.target_log_probs(embeddings, targets, chunk_size), expected, atol=1e-6)
    assert loss.target_log_probs(embeddings[:0], targets[:0]).shape == (0,)


@pytest.mark.parametrize("name", ["softmax", "sampled_softmax"])
def test_the_full_vocabulary_is_computed_one_chunk_of_rows_at_a_time(name):
    loss = _losses()[name].eval()
    embeddings, targets = _inputs()
    with mock.patch.object(loss, "log_probs", wraps=loss.log_probs) as log_probs:
        loss.target_log_probs(embeddings, targets, chunk_size=5)
    assert [call.args[0].shape for call in log_probs.call_args_list] == [(5, D)] * 4 + [(3, D)]
    # without a chunk size: as many rows as keep one (rows, V) block within scoring_block_size values
    loss.scoring_block_size = 7 * V + 3
    with mock.patch.object(loss, "log_probs", wraps=loss.log_probs) as log_probs:
        loss.target_log_probs(embeddings, targets)
    assert [call.args[0].shape[0] for call in log_probs.call_args_list] == [7, 7, 7, 2]


@pytest.mark.parametrize("bias", [True, False])
def test_without_gradients_the_full_softmax_scores_a_block_of_rows_by_a_block_of_words_at_a_time(bias):
    torch.manual_seed(0)
    loss = FullSoftmaxLoss(V, D, bias=bias).eval()
    if bias:
        torch.nn.init.normal_(loss.bias)
    embeddings, targets = _inputs()
    expected = loss.log_probs(embeddings).gather(1, targets.unsqueeze(1)).squeeze(1)  # via the (N, V) block
    loss.vocabulary_block_size, loss.scoring_block_size = 16, 16 * 10  # V = 60: 16 + 16 + 16 + 12 words
    with torch.no_grad(), mock.patch("torch.mm", wraps=torch.mm) as mm, \
            mock.patch("torch.addmm", wraps=torch.addmm) as addmm, \
            mock.patch.object(loss, "log_probs", wraps=loss.log_probs) as log_probs:
        scores = loss.target_log_probs(embeddings, targets)  # rows: 10, 10, 3
        assert torch.allclose(scores, expected, atol=1e-6)
        for chunk_size in (1, 7, 100):
            assert torch.allclose(loss.target_log_probs(embeddings, targets, chunk_size), expected, atol=1e-6)
    products = (addmm if bias else mm).call_args_list[:12]
    shapes = [(call.args[-2].shape[0], call.args[-1].shape[1]) for call in products]  # (rows, words) per block
    assert shapes == [(rows, words) for rows in (10, 10, 3) for words in (16, 16, 16, 12)]
    assert not log_probs.called  # never a (rows, V) block


def test_the_adaptive_softmax_scores_without_any_full_vocabulary_block():
    loss = _losses()["adaptive_softmax"].eval()
    embeddings, targets = _inputs()
    with mock.patch.object(loss, "log_probs", wraps=loss.log_probs) as log_probs:
        loss.target_log_probs(embeddings, targets, chunk_size=5)
    assert not log_probs.called

