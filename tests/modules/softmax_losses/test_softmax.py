import pytest
import torch
from torch.nn import functional as F

from lmlab.common import Lazy, Params
from lmlab.modules.softmax_losses import FullSoftmaxLoss, SoftmaxLoss
from lmlab.modules.token_embedders import Embedding

pytestmark = pytest.mark.cross_path  # compares two code paths: re-run under every CPU kernel level


def test_loss_is_summed_cross_entropy_of_the_logits_and_log_probs_normalise():
    torch.manual_seed(0)
    loss = Lazy(SoftmaxLoss, Params({})).construct(num_words=11, embedding_dim=4)  # default "softmax"
    assert isinstance(loss, FullSoftmaxLoss)
    with torch.no_grad():
        loss.bias.normal_()
    embeddings, targets = torch.randn(6, 4), torch.randint(0, 11, (6,))
    logits = embeddings @ loss.weight.t() + loss.bias
    assert torch.allclose(loss(embeddings, targets), F.cross_entropy(logits, targets, reduction="sum"))
    log_probs = loss.log_probs(torch.randn(2, 3, 4))
    assert log_probs.shape == (2, 3, 11)
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(2, 3))


def test_without_bias():
    loss = SoftmaxLoss.from_params({"type": "softmax", "bias": False}, num_words=5, embedding_dim=3)
    assert loss.bias is None
    embeddings, targets = torch.randn(2, 3), torch.tensor([1, 4])
    assert torch.allclose(loss(embeddings, targets),
                               F.cross_entropy(embeddings @ loss.weight.t(), targets, reduction="sum"))


@pytest.mark.parametrize("config", [{"type": "softmax"}, {"type": "sampled_softmax", "num_samples": 3}])
def test_tie_weights_shares_storage_and_gradients(config):
    embedding = Embedding(4, num_embeddings=9)
    loss = SoftmaxLoss.from_params(dict(config), num_words=9, embedding_dim=4)
    loss.tie_weights(embedding.weight)
    assert loss.weight is embedding.weight
    assert loss.weight.data_ptr() == embedding.weight.data_ptr()
    assert len(list(torch.nn.ModuleList([embedding, loss]).parameters())) == len(list(loss.parameters()))
    loss(torch.randn(3, 4), torch.tensor([1, 2, 3])).backward()
    assert embedding.weight.grad is not None and embedding.weight.grad[1:4].abs().sum() > 0


def test_tie_weights_with_the_wrong_shape_names_both():
    loss = FullSoftmaxLoss(9, 4)
    with pytest.raises(ValueError, match=r"\(9, 4\).*\(9, 5\)"):
        loss.tie_weights(torch.nn.Parameter(torch.zeros(9, 5)))
