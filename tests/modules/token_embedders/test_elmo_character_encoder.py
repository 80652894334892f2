import pytest
import torch

from lmlab.common.errors import ConfigurationError
from lmlab.modules.elmo import ElmoCharacterEncoder, batch_to_ids
from lmlab.modules.token_embedders import ElmoCharacterEncoderTokenEmbedder, TokenEmbedder

CONFIG = {"type": "elmo_character_encoder", "embedding_dim": 3, "filters": [[1, 2], [2, 3], [3, 4]],
          "num_highway": 2, "projection_dim": 5}


def test_one_vector_per_token_without_boundaries_zeros_at_padding():
    torch.manual_seed(0)
    embedder = TokenEmbedder.from_params(dict(CONFIG))
    assert isinstance(embedder, ElmoCharacterEncoderTokenEmbedder) and embedder.get_output_dim() == 5
    sentences = [["<S>", "a", "cat", "</S>"], ["<S>", "hi", "</S>"]]
    ids = batch_to_ids(sentences)
    output = embedder(ids)
    assert output.shape == (2, 4, 5)
    assert not output[1, 3].any()
    # Same numbers as the ELMo character encoder on each token alone; "<S>" gets the encoder's boundary vector.
    encoder: ElmoCharacterEncoder = embedder.character_encoder
    assert torch.allclose(output[0, :4], encoder.encode_char_ids(ids[0]), atol=1e-6)
    bos, eos = encoder.boundary_embeddings()
    assert torch.allclose(output[1, 0], bos, atol=1e-6) and torch.allclose(output[1, 2], eos, atol=1e-6)


def test_every_parameter_gets_a_gradient_but_the_padding_row():
    torch.manual_seed(0)
    embedder = TokenEmbedder.from_params(dict(CONFIG))
    embedder(batch_to_ids([["some", "words"], ["x"]])).sum().backward()
    for name, parameter in embedder.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    assert not embedder.character_encoder.char_embedding.weight.grad[0].any()


def test_bad_configs_are_located():
    with pytest.raises(ConfigurationError, match="filters"):
        TokenEmbedder.from_params({**CONFIG, "filters": []})
    with pytest.raises(ConfigurationError, match="activation"):
        TokenEmbedder.from_params({**CONFIG, "activation": "gelu"})


def test_padding_slots_never_reach_the_character_cnn(monkeypatch):
    torch.manual_seed(0)
    embedder = TokenEmbedder.from_params(dict(CONFIG))
    encoder = embedder.character_encoder
    ids = batch_to_ids([["a", "long", "sentence", "here", "."], ["short"], ["two", "words"]])  # (3, 5, 50)
    expected = torch.stack([torch.cat([encoder.encode_char_ids(row[:n]), torch.zeros(5 - n, 5)])
                            for row, n in zip(ids, (5, 1, 2), strict=True)])
    rows = []
    encode = encoder.encode_char_ids
    monkeypatch.setattr(encoder, "encode_char_ids", lambda char_ids: rows.append(len(char_ids)) or encode(char_ids))
    output = embedder(ids)
    assert rows == [8]  # the 8 real tokens of the 15 slots, in one pass
    torch.testing.assert_close(output, expected, atol=1e-6, rtol=1e-6)
