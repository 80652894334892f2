"""The one LM-archive loader, on every kind of language model lmlab trains (unidirectional, bidirectional,
LD-Net, ELMo-style), and the archive-reading "language_model_token_embedder" built on it."""
from pathlib import Path

import pytest
import torch

from lmlab.common.errors import ConfigurationError
from lmlab.common.params import Params
from lmlab.data import DatasetReader, Vocabulary
from lmlab.models import LanguageModel, Model, archive_model, load_language_model
from lmlab.models.elmo_lm import LanguageModelBiLm
from lmlab.modules.elmo import batch_to_ids
from lmlab.modules.token_embedders import TokenEmbedder

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
KINDS = {"unidirectional": "lm_tiny", "bidirectional": "bilm_tiny", "ldnet": "ldnet_lm_tiny", "elmo": "elmo_lm_tiny"}


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    """kind -> (archive path, the model archived), each an untrained model of its fixture config."""
    root = tmp_path_factory.mktemp("lms")
    made = {}
    for kind, name in KINDS.items():
        config = Params.from_file(str(FIXTURES / "configs" / f"{name}.jsonnet"),
                                  ext_vars={"LMLAB_FIXTURES": str(FIXTURES)}).as_dict()
        reader = DatasetReader.from_params(Params(config["dataset_reader"], "dataset_reader"))
        vocab = Vocabulary.from_instances(reader.read(config["train_data_path"]))
        torch.manual_seed(0)
        model = Model.from_params(Params(config["model"], "model"), vocab=vocab)
        made[kind] = (archive_model(root, config, model, archive_path=root / f"{kind}.tar.gz"), model)
    return made


@pytest.mark.parametrize("kind", KINDS)
def test_the_loader_gives_the_archived_language_model_with_its_weights(archives, kind):
    path, archived = archives[kind]
    loaded = load_language_model(str(path), "archive")
    assert isinstance(loaded, LanguageModel) and not loaded.training
    assert loaded.bidirectional == archived.bidirectional
    expected, found = archived.state_dict(), loaded.state_dict()
    assert expected.keys() == found.keys()
    assert all(torch.equal(expected[key], found[key]) for key in expected if isinstance(expected[key], torch.Tensor))


@pytest.mark.parametrize("kind,wanted", [("unidirectional", True), ("bidirectional", False), ("elmo", False)])
def test_the_loader_refuses_the_other_direction_at_the_key_that_named_the_archive(archives, kind, wanted):
    path, _ = archives[kind]
    with pytest.raises(ConfigurationError) as caught:
        load_language_model(str(path), "forward_archive", bidirectional=wanted)
    location, message = caught.value.problems[0]
    assert location == "forward_archive"
    assert "expected a " + ("bidirectional" if wanted else "unidirectional") in message


@pytest.mark.parametrize("kind", ["unidirectional", "ldnet"])
def test_word_level_unidirectional_lms_give_features_that_are_their_own_outputs(archives, kind):
    path, archived = archives[kind]
    words = ["the", "of", "and"]
    vocab = Vocabulary(counter={"tokens": {word: 1 for word in words}})
    embedder = TokenEmbedder.from_params(Params({"type": "language_model_token_embedder",
                                                 "forward_archive": str(path)}), vocab=vocab)
    ids = torch.tensor([[vocab.get_token_index(word) for word in words]])
    lm_ids = torch.tensor([[archived.vocab.get_token_index(word) for word in words]])
    archived.eval()
    with torch.no_grad():
        _, contextual, _ = archived.contextualize({"tokens": {"tokens": lm_ids}})
        assert torch.allclose(embedder(ids), contextual, atol=1e-6)


@pytest.mark.parametrize("kind", ["bidirectional", "elmo"])
def test_bidirectional_lms_are_refused_as_word_features_and_elmo_style_ones_make_an_elmo_bilm(archives, kind):
    path, archived = archives[kind]
    vocab = Vocabulary(counter={"tokens": {"the": 1}})
    with pytest.raises(ConfigurationError, match="expected a unidirectional one") as caught:
        TokenEmbedder.from_params(Params({"type": "language_model_token_embedder", "forward_archive": str(path)}),
                                  vocab=vocab)
    assert caught.value.problems[0][0] == "forward_archive"
    if kind == "elmo":
        bilm = LanguageModelBiLm(load_language_model(str(path), "archive", bidirectional=True))
        output = bilm(batch_to_ids([["the", "cat"]]))
        assert len(output["activations"]) == 3 and output["mask"].shape == (1, 4)
