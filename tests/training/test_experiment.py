"""`check_config`: the whole training config checked as `train_model` builds it, with no data."""
from pathlib import Path

import pytest

from lmlab.common import ConfigurationError, Params, to_params
from lmlab.data.vocabulary import Vocabulary
from lmlab.models.model import Model
from lmlab.training.experiment import check_config

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "fixtures" / "configs" / "lm_tiny.jsonnet"
NO_DATA = {"train_data_path": "no/such/train.txt", "validation_data_path": "no/such/valid.txt"}


def _params(**overrides) -> Params:
    return Params.from_file(str(CONFIG), overrides={**NO_DATA, **overrides},
                            ext_vars={"LMLAB_FIXTURES": str(ROOT / "fixtures")})


def test_every_problem_of_every_block_at_once():
    params = _params(**{
        "test_data_pth": "x", "dataset_reader.max_sequence_length": "40",
        "validation_dataset_reader": {"type": "simple_language_modelling"}, "evaluate_on_test": "yes",
        "vocabulary.min_count": {"tokens": "2"}, "model.contextualizer.hidden_sise": 8, "data_loader.shuffle": 1,
        "validation_data_loader": {"batch_size": [8]}, "trainer.optimizer.lr": "fast",
        "trainer.optimizer.model_parameters": [], "random_seed": 1.5, "datasets_for_vocab_creation": ["test"]})
    with pytest.raises(ConfigurationError) as info:
        check_config(params)
    lines = info.value.lines()
    assert lines == [
        'config error at test_data_pth: unknown key for the config; did you mean "test_data_path"?',
        'config error at dataset_reader.max_sequence_length: expected int, found str "40"',
        'config error at validation_dataset_reader.type: unknown DatasetReader "simple_language_modelling"; did you '
        f'mean "simple_language_modeling"? {lines[2].split("? ", 1)[1]}',
        'config error at data_loader.shuffle: expected bool, found int 1',
        'config error at validation_data_loader.batch_size: expected int, found list',
        'config error at vocabulary.min_count.tokens: expected int, found str "2"',
        'config error at model.contextualizer.hidden_sise: unknown key for "lstm"; did you mean "hidden_size"?',
        'config error at trainer.optimizer.model_parameters: is set by lmlab at run time; remove it from the config',
        'config error at trainer.optimizer.lr: expected float, found str "fast"',
        'config error at evaluate_on_test: expected bool, found str "yes"',
        'config error at random_seed: expected int, found float 1.5',
        'config error at datasets_for_vocab_creation[0]: no "test" data (have: train, validation)']
    with pytest.raises(ConfigurationError) as info:
        check_config(Params({"dataset_reader": None}))
    assert info.value.lines() == ["config error at dataset_reader: missing required key",
                                  "config error at train_data_path: missing required key",
                                  "config error at model: missing required key"]


def test_the_filled_config_is_what_building_fills_in():
    params = _params(**{"trainer.cuda_device": 0})
    given = params.as_dict()
    config = check_config(params, cuda_device=-1)
    assert params.as_dict() == given
    assert config["trainer"]["cuda_device"] == -1 and config["trainer"]["num_epochs"] == 2
    assert config["trainer"]["optimizer"] == {**config["trainer"]["optimizer"], "type": "adam", "lr": 0.01}
    assert config["random_seed"] == 13370 and config["validation_data_loader"] is None
    assert config["data_loader"]["type"] == "multiprocess" and config["data_loader"]["shuffle"] is True
    assert config["vocabulary"]["type"] == "from_instances"
    model = Model.from_params(Params(config["model"], "model"), vocab=Vocabulary(), serialization_dir="unused")
    assert to_params(model) == config["model"]
    assert check_config(Params(config)) == config  # a filled config is a fixed point
