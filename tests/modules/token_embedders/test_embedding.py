import gzip

import pytest
import torch

from lmlab.common.errors import ConfigurationError, InputError
from lmlab.data.vocabulary import Vocabulary
from lmlab.modules.token_embedders import Embedding, TokenEmbedder


@pytest.fixture
def vocab():
    return Vocabulary(counter={"tokens": {"the": 5, "cat": 3, "dog": 1}})  # pad 0, unk 1, the 2, cat 3, dog 4


def test_size_from_vocab_padding_row_and_forward_shapes(vocab):
    embedding = TokenEmbedder.from_params({"type": "embedding", "embedding_dim": 3}, vocab=vocab)
    assert isinstance(embedding, Embedding) and embedding.weight.shape == (5, 3)
    assert embedding.get_output_dim() == 3
    out = embedding(torch.tensor([[2, 3, 0]]))
    assert out.shape == (1, 3, 3)
    assert torch.equal(out[0, 2], torch.zeros(3))
    assert torch.equal(out[0, 0], embedding.weight[2])
    out.sum().backward()
    assert torch.equal(embedding.weight.grad[0], torch.zeros(3))  # the padding row gets no gradient


def test_without_vocab_or_size_is_a_located_config_error():
    with pytest.raises(ConfigurationError, match="num_embeddings"):
        TokenEmbedder.from_params({"type": "embedding", "embedding_dim": 3})


def test_sparse_and_frozen():
    embedding = Embedding(4, num_embeddings=10, sparse=True)
    embedding(torch.tensor([[1, 2]])).sum().backward()
    assert embedding.weight.grad.is_sparse
    frozen = Embedding(4, num_embeddings=10, trainable=False)
    assert not frozen.weight.requires_grad


def _write(path, lines, gz=False):
    text = "\n".join(lines) + "\n"
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as stream:
            stream.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("gz", [False, True])
def test_pretrained_file_reads_vocabulary_words_only(tmp_path, vocab, gz):
    torch.manual_seed(0)
    path = _write(tmp_path / ("vectors.txt.gz" if gz else "vectors.txt"),
                  ["3 3", "the 1 2 3", "zebra 9 9 9", "cat -1 -2 -3.5"], gz=gz)
    embedding = TokenEmbedder.from_params({"type": "embedding", "embedding_dim": 3, "pretrained_file": path},
                                          vocab=vocab)
    assert embedding.weight[2].tolist() == [1.0, 2.0, 3.0]
    assert embedding.weight[3].tolist() == [-1.0, -2.0, -3.5]
    assert torch.equal(embedding.weight[0], torch.zeros(3))
    assert not torch.equal(embedding.weight[4], torch.zeros(3))  # "dog": random, not zero
    assert not (embedding.weight == 9).any()  # "zebra" is not in the vocabulary


def test_pretrained_file_with_a_wrong_line_names_file_and_line(tmp_path, vocab):
    path = _write(tmp_path / "bad.txt", ["the 1 2 3", "cat 1 2"])
    with pytest.raises(InputError) as info:
        TokenEmbedder.from_params({"type": "embedding", "embedding_dim": 3, "pretrained_file": path}, vocab=vocab)
    assert f"{path}:2" in str(info.value) and "found 2 values" in str(info.value)
    path = _write(tmp_path / "nan.txt", ["the 1 x 3"])
    with pytest.raises(InputError, match="nan.txt:1"):
        Embedding(3, pretrained_file=path, vocab=vocab)


def test_missing_pretrained_file_is_an_input_error_at_its_config_key(tmp_path, vocab):
    config = {"type": "embedding", "embedding_dim": 3, "pretrained_file": str(tmp_path / "nope.txt")}
    with pytest.raises(InputError) as info:
        TokenEmbedder.from_params(config, vocab=vocab)
    assert "pretrained_file" in str(info.value) and "nope.txt" in str(info.value)


@pytest.mark.parametrize("config", [
    {"type": "embedding", "embedding_dim": 50, "num_embeddings": 950},
    {"type": "character_lstm", "embedding_dim": 50, "hidden_size": 2, "num_embeddings": 950},
    {"type": "character_encoding", "embedding_dim": 50, "num_filters": 2, "num_embeddings": 950},
])
def test_word_and_character_vectors_start_xavier_uniform_as_allennlps_with_a_zero_padding_row(config):
    torch.manual_seed(0)
    module = TokenEmbedder.from_params(config)
    weight = module.weight if isinstance(module, Embedding) else module.char_embedding.weight
    bound = (6 / (950 + 50)) ** 0.5  # Xavier/Glorot uniform: U(-a, a), a = sqrt(6 / (fan_in + fan_out))
    rows = weight.detach()[1:]
    assert rows.abs().max() <= bound and rows.abs().max() > 0.99 * bound
    assert rows.std().item() == pytest.approx(bound / 3 ** 0.5, rel=0.02)  # a uniform's std is a / sqrt(3)
    assert torch.equal(weight.detach()[0], torch.zeros(50))
