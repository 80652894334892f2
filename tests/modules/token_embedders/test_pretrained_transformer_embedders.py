import pytest
import torch

transformers = pytest.importorskip("transformers")

from lmlab.common.params import Params  # noqa: E402
from lmlab.common.testing.tiny_transformers import FAMILIES, tiny_transformer  # noqa: E402
from lmlab.data.batch import Batch  # noqa: E402
from lmlab.data.fields.text_field import TextField  # noqa: E402
from lmlab.data.instance import Instance  # noqa: E402
from lmlab.data.token_indexers import PretrainedTransformerMismatchedIndexer  # noqa: E402
from lmlab.data.vocabulary import Vocabulary  # noqa: E402
from lmlab.modules.token_embedders import (  # noqa: E402
    PretrainedTransformerEmbedder,
    TokenEmbedder,
)

SENTENCES = [["the", "catastrophe", "sat", "."], ["a", "dog"]]


def _reference_hidden(folder, text):
    model = transformers.AutoModel.from_pretrained(folder).eval()
    encoded = transformers.AutoTokenizer.from_pretrained(folder)(text, return_tensors="pt")
    with torch.no_grad():
        return model(**encoded).last_hidden_state[0]  # (P, H)


def _batch(folder):
    indexer = PretrainedTransformerMismatchedIndexer(folder)
    instances = [Instance({"words": TextField(words, {"pieces": indexer})}) for words in SENTENCES]
    vocab = Vocabulary()
    for instance in instances:
        instance.index_fields(vocab)
    return Batch(instances).as_tensor_dict()["words"]["pieces"]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("pooling", ["first", "mean", "last"])
def test_mismatched_pooling_equals_a_hand_computation_from_the_hidden_states(family, pooling):
    folder = str(tiny_transformer(family))
    embedder = TokenEmbedder.from_params(Params({"type": "pretrained_transformer_mismatched", "model_name": folder,
                                                 "pooling": pooling})).eval()
    tensors = _batch(folder)
    with torch.no_grad():
        words = embedder(**tensors)  # (2, 4, H)
    assert words.shape == (2, 4, 32)
    for row, sentence in enumerate(SENTENCES):
        hidden = _reference_hidden(folder, " ".join(sentence))
        for position, (start, end) in enumerate(tensors["offsets"][row, :len(sentence)].tolist()):
            pieces = hidden[start:end + 1]
            expected = {"first": pieces[0], "mean": pieces.mean(0), "last": pieces[-1]}[pooling]
            assert torch.allclose(words[row, position], expected, atol=1e-5)
    assert torch.all(words[1, 2:] == 0)  # padding words


def test_last_layer_equals_the_model_and_padding_is_zero():
    folder = str(tiny_transformer("bert"))
    embedder = PretrainedTransformerEmbedder(folder).eval()
    ids = torch.tensor([[2, 10, 11, 12, 3], [2, 10, 3, 0, 0]])
    mask = ids != 0
    model = transformers.AutoModel.from_pretrained(folder).eval()
    with torch.no_grad():
        output = embedder(ids, mask)
        expected = model(input_ids=ids[:1]).last_hidden_state
    assert torch.allclose(output[:1], expected, atol=1e-5)
    assert torch.all(output[1, 3:] == 0)


def test_scalar_mix_of_all_layers_and_frozen_parameters():
    folder = str(tiny_transformer("bert"))
    embedder = PretrainedTransformerEmbedder(folder, last_layer_only=False, train_parameters=False)
    trainable = [name for name, parameter in embedder.named_parameters() if parameter.requires_grad]
    assert trainable == ["scalar_mix.scalar_parameters", "scalar_mix.gamma"]
    embedder.eval()
    ids = torch.tensor([[2, 10, 11, 3]])
    model = transformers.AutoModel.from_pretrained(folder).eval()
    with torch.no_grad():
        layers = model(input_ids=ids, output_hidden_states=True).hidden_states[1:]
        assert torch.allclose(embedder(ids, ids != 0), sum(layers) / len(layers), atol=1e-5)


@pytest.mark.parametrize("family", ["bert", "gpt2"])
def test_rows_longer_than_max_length_run_in_windows_stitched_back(family):
    folder = str(tiny_transformer(family))
    embedder = PretrainedTransformerEmbedder(folder, max_length=6).eval()
    model = transformers.AutoModel.from_pretrained(folder).eval()
    framed = family == "bert"  # BERT: [CLS] ... [SEP] around each window; GPT-2 adds no special tokens
    head, tail = ([2], [3]) if framed else ([], [])
    inner = list(range(10, 21))  # 11 pieces: windows of 4 (BERT) or 6 (GPT-2) inner pieces
    long_row = head + inner + tail
    short_row = head + [10, 11] + tail
    ids = torch.zeros(2, len(long_row), dtype=torch.long)
    ids[0] = torch.tensor(long_row)
    ids[1, :len(short_row)] = torch.tensor(short_row)
    with torch.no_grad():
        output = embedder(ids, ids != 0 if framed else torch.arange(len(long_row)) < torch.tensor([[len(long_row)],
                                                                                                   [len(short_row)]]))
        chunk = 6 - len(head) - len(tail)
        pieces = []
        windows = [inner[i:i + chunk] for i in range(0, len(inner), chunk)]
        for number, window in enumerate(windows):
            hidden = model(input_ids=torch.tensor([head + window + tail])).last_hidden_state[0]
            if number == 0:
                pieces.append(hidden[:len(head)])
            pieces.append(hidden[len(head):len(head) + len(window)])
            if number == len(windows) - 1:
                pieces.append(hidden[len(head) + len(window):])
        expected = torch.cat(pieces)
        short = model(input_ids=torch.tensor([short_row])).last_hidden_state[0]
    assert torch.allclose(output[0], expected, atol=1e-5)
    assert torch.allclose(output[1, :len(short_row)], short, atol=1e-5)
    assert torch.all(output[1, len(short_row):] == 0)
