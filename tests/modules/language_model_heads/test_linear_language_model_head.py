import pytest
import torch

from lmlab.data.vocabulary import Vocabulary
from lmlab.modules.language_model_heads import LanguageModelHead, LinearLanguageModelHead
from lmlab.modules.token_embedders import Embedding


@pytest.fixture
def vocab():
    return Vocabulary(counter={"tokens": {"a": 3, "b": 2, "c": 1}})  # V = 5


def test_linear_head_computes_affine_logits(vocab):
    head = LanguageModelHead.from_params({"input_dim": 4}, vocab=vocab)  # "type" defaults to "linear"
    assert isinstance(head, LinearLanguageModelHead) and not head.tie_embeddings
    assert head.get_input_dim() == 4 and head.get_output_dim() == 5
    hidden = torch.randn(2, 3, 4)
    assert torch.allclose(head(hidden), hidden @ head.weight.t() + head.bias, atol=1e-6)


def test_tied_head_shares_the_embedding_matrix(vocab):
    head = LanguageModelHead.from_params({"type": "tied", "input_dim": 4, "bias": False}, vocab=vocab)
    assert isinstance(head, LinearLanguageModelHead) and head.tie_embeddings and head.bias is None
    embedding = Embedding(4, vocab=vocab)
    head.tie_weights(embedding.weight)
    assert head.weight is embedding.weight
    head(torch.randn(3, 4)).sum().backward()
    assert embedding.weight.grad is not None


def test_tie_with_the_wrong_shape_names_both_shapes(vocab):
    head = LinearLanguageModelHead(4, vocab)
    with pytest.raises(ValueError, match=r"\(5, 4\).*\(6, 4\)"):
        head.tie_weights(torch.nn.Parameter(torch.zeros(6, 4)))
