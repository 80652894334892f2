from pathlib import Path

import pytest
import torch

from lmlab.common.errors import ConfigurationError
from lmlab.modules.elmo import Elmo, ElmoBiLm, batch_to_ids
from lmlab.modules.text_field_embedders import BasicTextFieldEmbedder, TextFieldEmbedder
from lmlab.modules.token_embedders import ElmoTokenEmbedder, TokenEmbedder

ROOT = Path(__file__).resolve().parents[3]
TINY = ROOT / "fixtures" / "elmo"  # random tiny model, always present: P = 4, D = 8
SHARED = ROOT / ".." / "shared" / "fixtures" / "elmo"  # the pretrained oracle fixture: P = 16, D = 32
SENTENCES = [["The", "sentence", "is", "short", "."], ["Another", "one", "with", "more", "words", "."], ["Tiny"]]


@pytest.fixture(params=["tiny", "shared"])
def files(request):
    folder = TINY if request.param == "tiny" else SHARED
    if not folder.is_dir():
        pytest.skip(f"ELMo fixtures not found at {folder}")
    return str(folder / "options.json"), str(folder / "lm_weights.hdf5")


def _embedder(files, **config):
    torch.manual_seed(0)
    options, weights = files
    return TokenEmbedder.from_params({"type": "elmo_token_embedder", "options_file": options,
                                      "weight_file": weights, "dropout": 0.0, **config}).eval()


def test_output_equals_elmo_with_a_stateless_bilm(files):
    embedder = _embedder(files, scalar_mix_parameters=[0.5, -1.0, 2.0])
    assert isinstance(embedder, ElmoTokenEmbedder)
    elmo = Elmo(None, None, 1, dropout=0.0, scalar_mix_parameters=[0.5, -1.0, 2.0],
                module=ElmoBiLm(*files, stateful=False)).eval()
    ids = batch_to_ids(SENTENCES)
    with torch.no_grad():
        output = embedder(ids)
        expected = elmo(ids)["elmo_representations"][0]
        again = embedder(ids)  # stateless by default: the same input gives the same output
    width = elmo.get_output_dim()
    assert embedder.get_output_dim() == width and output.shape == (3, 6, width)
    assert torch.equal(output, expected) and torch.equal(again, output)
    assert not output[2, 1:].any()  # zeros at padding
    assert not any(p.requires_grad for p in embedder.elmo._elmo_lstm.parameters())
    assert all(not p.requires_grad for p in embedder.elmo.scalar_mixes.parameters())  # fixed mix


def test_projection_dim_and_a_trainable_mix(files):
    embedder = _embedder(files, projection_dim=7)
    assert embedder.get_output_dim() == 7
    output = embedder(batch_to_ids(SENTENCES))
    assert output.shape == (3, 6, 7)
    output.sum().backward()
    mix = embedder.elmo.scalar_mixes[0]
    assert mix.scalar_parameters.grad is not None and embedder.projection.weight.grad is not None


def test_stateful_carries_state_between_batches_like_allennlp(files):
    embedder = _embedder(files, stateful=True)
    ids = batch_to_ids(SENTENCES)
    with torch.no_grad():
        first, second = embedder(ids), embedder(ids)
        embedder.reset_states()
        third = embedder(ids)
    assert not torch.allclose(first, second) and torch.equal(first, third)


def test_inside_a_text_field_embedder_with_an_unembedded_targets_indexer():
    options, weights = str(TINY / "options.json"), str(TINY / "lm_weights.hdf5")
    config = {"token_embedders": {"elmo": {"type": "elmo_token_embedder", "options_file": options,
                                           "weight_file": weights, "dropout": 0.0}}}
    ids = batch_to_ids(SENTENCES)
    batch = {"elmo": {"elmo_tokens": ids}, "tokens": {"tokens": torch.ones(3, 6, dtype=torch.long)}}
    strict = TextFieldEmbedder.from_params(dict(config))
    with pytest.raises(ConfigurationError, match="set allow_unmatched_keys to ignore the extra indexers"):
        strict(batch)
    lenient = TextFieldEmbedder.from_params({**config, "allow_unmatched_keys": True}).eval()
    assert isinstance(lenient, BasicTextFieldEmbedder)
    assert torch.equal(lenient(batch), lenient({"elmo": {"elmo_tokens": ids}}))
    with pytest.raises(ConfigurationError, match=r"do not match the token embedders \(elmo\)$"):
        lenient({"tokens": {"tokens": torch.ones(3, 6, dtype=torch.long)}})  # a missing indexer stays an error


def test_a_missing_file_is_an_input_error():
    from lmlab.common.errors import InputError

    with pytest.raises(InputError, match="file not found"):
        ElmoTokenEmbedder(str(TINY / "options.json"), str(TINY / "missing.hdf5"))
