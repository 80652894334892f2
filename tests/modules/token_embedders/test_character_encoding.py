import pytest
import torch

from lmlab.common.errors import ConfigurationError
from lmlab.data.vocabulary import Vocabulary
from lmlab.modules.token_embedders import TokenCharactersEncoder, TokenEmbedder


def _hand_set(widths, char_values):
    """One filter per width, every weight 1, bias 0, linear activation; 1-d character vectors."""
    encoder = TokenCharactersEncoder(embedding_dim=1, num_filters=1, ngram_filter_sizes=widths,
                                     num_embeddings=len(char_values), conv_activation="linear")
    with torch.no_grad():
        encoder.char_embedding.weight.copy_(torch.tensor(char_values).view(-1, 1))
        for convolution in encoder.convolutions:
            convolution.weight.fill_(1.0)
            convolution.bias.zero_()
    return encoder


def test_exact_output_padded_characters_never_win_the_max():
    # character id -> value: 0 (padding) 0, 1 -> -5, 2 -> -3, 3 -> 2, 4 -> 7
    encoder = _hand_set([2], [0.0, -5.0, -3.0, 2.0, 7.0])
    ids = torch.tensor([[[1, 2, 0], [3, 0, 0], [3, 4, 1]],
                        [[0, 0, 0], [2, 2, 2], [0, 0, 0]]])  # (B=2, T=3, C=3)
    out = encoder(ids)
    assert out.shape == (2, 3, 1)
    # [1, 2]: the only window inside the word is -5 + -3 = -8 (a padded window would give -3 + 0 = -3)
    # [3]: shorter than the filter: first window 2 + 0 = 2;  [3, 4, 1]: max(2 + 7, 7 - 5) = 9
    # [2, 2, 2]: -6;  padded words: exactly 0
    assert out[..., 0].tolist() == [[-8.0, 2.0, 9.0], [0.0, -6.0, 0.0]]


def test_exact_output_with_two_widths_and_words_narrower_than_the_batch():
    encoder = _hand_set([1, 3], [0.0, -5.0, -3.0, 2.0, 7.0])
    ids = torch.tensor([[[4, 1, 0, 0], [2, 3, 4, 1], [1, 0, 0, 0]]])  # (1, 3, 4)
    out = encoder(ids)[0]  # (3, 2): [max over chars, max over width-3 windows inside the word]
    assert out.tolist() == [[7.0, 2.0], [7.0, 6.0], [-5.0, -5.0]]
    # fewer characters than the widest filter: the batch is padded to the width
    assert encoder(torch.tensor([[[3]]]))[0, 0].tolist() == [2.0, 2.0]


def test_highway_projection_dropout_config_and_padded_words_are_zero():
    vocab = Vocabulary(counter={"token_characters": {c: 1 for c in "abcdef"}})
    encoder = TokenEmbedder.from_params(
        {"type": "character_encoding", "embedding_dim": 4, "num_filters": 3, "ngram_filter_sizes": [1, 2],
         "highway_layers": 1, "output_dim": 5, "dropout": 0.5}, vocab=vocab)
    assert encoder.get_output_dim() == 5 and encoder.char_embedding.num_embeddings == 8
    ids = torch.tensor([[[2, 3, 4], [0, 0, 0]]])
    encoder.train()
    out = encoder(ids)
    assert out.shape == (1, 2, 5) and torch.equal(out[0, 1], torch.zeros(5))
    out.sum().backward()
    assert all(p.grad is not None for p in encoder.parameters())


def test_unknown_activation_is_located():
    with pytest.raises(ConfigurationError) as info:
        TokenEmbedder.from_params({"type": "character_encoding", "embedding_dim": 2, "num_filters": 2,
                                   "num_embeddings": 5, "conv_activation": "rleu"})
    assert "conv_activation" in str(info.value) and 'did you mean "relu"' in str(info.value)
