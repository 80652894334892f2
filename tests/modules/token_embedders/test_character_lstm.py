import pytest
import torch

from lmlab.common.errors import ConfigurationError
from lmlab.common.params import Params
from lmlab.modules.token_embedders import CharacterLstmTokenEmbedder, TokenEmbedder


def test_each_word_is_encoded_from_its_own_characters_only():
    torch.manual_seed(0)
    encoder = TokenEmbedder.from_params(Params({"type": "character_lstm", "embedding_dim": 4, "hidden_size": 3,
                                                "num_embeddings": 10}))
    assert isinstance(encoder, CharacterLstmTokenEmbedder) and encoder.get_output_dim() == 6
    ids = torch.tensor([[[2, 3, 4, 0], [5, 0, 0, 0], [0, 0, 0, 0]],
                        [[5, 6, 7, 8], [2, 3, 4, 0], [0, 0, 0, 0]]])  # (B=2, T=3, C=4)
    output = encoder(ids)
    assert output.shape == (2, 3, 6)
    assert (output[:, 2] == 0).all()  # padding words
    assert torch.allclose(output[0, 0], output[1, 1], atol=1e-6)  # the same word, whatever surrounds it
    alone = encoder(ids[:1, :1, :3])  # without the padding characters
    assert torch.allclose(alone[0, 0], output[0, 0], atol=1e-6)
    # the forward half reads the word left to right: its last state depends on every character
    changed = ids.clone()
    changed[0, 0, 0] = 9
    assert not torch.allclose(encoder(changed)[0, 0, :3], output[0, 0, :3])
    with pytest.raises(ConfigurationError, match="set num_embeddings"):
        CharacterLstmTokenEmbedder(embedding_dim=4, hidden_size=3)
