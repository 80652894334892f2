import pytest
import torch

from lmlab.common.errors import ConfigurationError
from lmlab.data.vocabulary import Vocabulary
from lmlab.modules.text_field_embedders import BasicTextFieldEmbedder, TextFieldEmbedder
from lmlab.modules.token_embedders import Embedding, TokenEmbedder


@pytest.fixture
def embedder():
    vocab = Vocabulary(counter={"tokens": {"a": 2, "b": 1}, "token_characters": {"a": 2, "b": 1}})
    return TextFieldEmbedder.from_params({"token_embedders": {  # "type" defaults to "basic"
        "tokens": {"type": "embedding", "embedding_dim": 3},
        "token_characters": {"type": "character_encoding", "embedding_dim": 2, "num_filters": 4,
                             "ngram_filter_sizes": [1]}}}, vocab=vocab)


def test_concatenates_in_sorted_indexer_order(embedder):
    assert isinstance(embedder, BasicTextFieldEmbedder) and embedder.get_output_dim() == 7
    tokens = torch.tensor([[2, 3, 0]])
    chars = torch.tensor([[[2, 3], [3, 0], [0, 0]]])
    batch = {"tokens": {"tokens": tokens}, "token_characters": {"token_characters": chars}}
    out = embedder(batch)
    assert out.shape == (1, 3, 7)
    # sorted keys: "token_characters" (4) first, then "tokens" (3)
    assert torch.equal(out[..., :4], embedder.token_embedder("token_characters")(chars))
    assert torch.equal(out[..., 4:], embedder.token_embedder("tokens")(tokens))
    assert isinstance(embedder.token_embedder("tokens"), Embedding)


def test_indexer_mismatch_names_both_sets(embedder):
    with pytest.raises(ConfigurationError) as info:
        embedder({"tokens": {"tokens": torch.ones(1, 2, dtype=torch.long)}})
    message = str(info.value)
    assert "(tokens)" in message and "(token_characters, tokens)" in message
    with pytest.raises(ConfigurationError, match='no token embedder named "words"'):
        embedder.token_embedder("words")


def test_an_indexer_with_several_tensors_passes_them_as_keywords():
    class Summed(TokenEmbedder):
        def get_output_dim(self):
            return 1

        def forward(self, ids, offsets):
            return (ids + offsets).unsqueeze(-1).float()

    embedder = BasicTextFieldEmbedder({"pieces": Summed()})
    out = embedder({"pieces": {"ids": torch.tensor([[1, 2]]), "offsets": torch.tensor([[10, 20]])}})
    assert out[..., 0].tolist() == [[11.0, 22.0]]
