"""`train_model`: everything `lmlab train` does, from a config to an archived model.

Top-level config keys:
    dataset_reader, validation_dataset_reader (optional), train_data_path, validation_data_path,
    test_data_path, evaluate_on_test, datasets_for_vocab_creation, vocabulary, model, data_loader,
    validation_data_loader, trainer, random_seed, numpy_seed, pytorch_seed.
"""
import copy
import json
import logging
import shutil
from itertools import chain
from pathlib import Path
from typing import Any, Dict, List, Optional

from lmlab.common.errors import ConfigurationError
from lmlab.common.file_utils import atomic_write
from lmlab.common.from_params import to_params
from lmlab.common.lazy import Lazy
from lmlab.common.params import Params, merge_overrides
from lmlab.common.util import set_seeds
from lmlab.data.data_loaders import DataLoader
from lmlab.data.dataset_readers.dataset_reader import DatasetReader
from lmlab.data.vocabulary import Vocabulary
from lmlab.models.archival import CONFIG_NAME, VOCABULARY_NAME, archive_model
from lmlab.models.model import Model
from lmlab.training.gradient_descent_trainer import evaluate_model
from lmlab.training.trainer import Trainer

logger = logging.getLogger(__name__)

DEFAULT_DATA_LOADER: Dict[str, Any] = {"batch_size": 32}

TOP_LEVEL_KEYS = ["dataset_reader", "validation_dataset_reader", "train_data_path", "validation_data_path",
                  "test_data_path", "evaluate_on_test", "datasets_for_vocab_creation", "vocabulary", "model",
                  "data_loader", "validation_data_loader", "trainer", "random_seed", "numpy_seed", "pytorch_seed"]


def prepare_serialization_dir(serialization_dir: Path, recover: bool, force: bool) -> None:
    """Refuse to clobber a previous run unless `force`; `recover` needs the previous run."""
    if recover and force:
        raise ConfigurationError("use either --recover or --force, not both")
    exists = serialization_dir.is_dir() and any(serialization_dir.iterdir())
    if recover:
        if not (serialization_dir / CONFIG_NAME).is_file():
            raise ConfigurationError(f"nothing to recover: {serialization_dir / CONFIG_NAME} does not exist")
        return
    if exists:
        if not force:
            raise ConfigurationError(f"serialization directory {serialization_dir} is not empty; "
                                     "use --recover to continue that run or --force to overwrite it")
        shutil.rmtree(serialization_dir)
    serialization_dir.mkdir(parents=True, exist_ok=True)


def train_model(params: Params, serialization_dir: str, recover: bool = False, force: bool = False,
                cuda_device: Optional[int] = None) -> Model:
    """Train from `params` into `serialization_dir` and write `model.tar.gz`; returns the best model."""
    directory = Path(serialization_dir)
    prepare_serialization_dir(directory, recover, force)
    if cuda_device is not None:
        trainer_config = params.params.setdefault("trainer", {})
        if not isinstance(trainer_config, dict):
            raise ConfigurationError("expected an object", "trainer")
        trainer_config["cuda_device"] = cuda_device
    raw = params.as_dict()
    blocks = {key: params.pop(key, None) for key in TOP_LEVEL_KEYS}
    params.assert_empty("the config", allowed=TOP_LEVEL_KEYS)  # top-level typos fail before any work
    for required in ("dataset_reader", "train_data_path", "model"):
        if blocks[required] is None:
            raise ConfigurationError("missing required key", required)
    set_seeds(*(_seed(blocks, key, default) for key, default in
                (("random_seed", 13370), ("numpy_seed", 1337), ("pytorch_seed", 133))))

    reader = DatasetReader.from_params(blocks["dataset_reader"])
    validation_reader = DatasetReader.from_params(blocks["validation_dataset_reader"]) \
        if blocks["validation_dataset_reader"] is not None else reader
    loader_config = blocks["data_loader"].as_dict() if blocks["data_loader"] is not None else None
    validation_config = evaluation_loader_config(
        blocks["validation_data_loader"].as_dict() if blocks["validation_data_loader"] is not None else None,
        loader_config)
    train_path = _path(blocks, "train_data_path")
    loaders = {"train": build_data_loader(loader_config or DEFAULT_DATA_LOADER, reader, train_path)}
    validation_path = _path(blocks, "validation_data_path")
    if validation_path:
        loaders["validation"] = build_data_loader(validation_config, validation_reader, validation_path)
    test_path = _path(blocks, "test_data_path")
    if test_path:
        loaders["test"] = build_data_loader(validation_config, validation_reader, test_path)

    vocab = _vocabulary(blocks, loaders, directory, recover)
    for loader in loaders.values():
        loader.index_with(vocab)
    model = Model.from_params(blocks["model"], vocab=vocab, serialization_dir=str(directory))
    trainer = Trainer.from_params(blocks["trainer"] or Params({}, "trainer"), model=model,
                                  data_loader=loaders["train"], validation_data_loader=loaders.get("validation"),
                                  serialization_dir=str(directory))
    config = {**raw, "dataset_reader": to_params(reader), "model": to_params(model), "trainer": to_params(trainer),
              "data_loader": to_params(loaders["train"])}
    if blocks["validation_dataset_reader"] is not None:
        config["validation_dataset_reader"] = to_params(validation_reader)
    _write_or_check_config(directory, config, recover)
    if recover and not trainer.resume():
        logger.info("no checkpoint in %s: starting from the beginning", directory)

    try:
        metrics = trainer.train()
    except KeyboardInterrupt:
        if (directory / "best.th").is_file():
            archive_model(directory, config, model, reader, weights=directory / "best.th")
        raise
    if (directory / "best.th").is_file():
        model.load_state_dict(_load_weights(directory / "best.th"))
    archive_model(directory, config, model, reader)
    if "test" in loaders and blocks["evaluate_on_test"]:
        test_metrics = evaluate_model(model, loaders["test"], model.device(),
                                      progress_bar=False)
        metrics.update({f"test_{k}": v for k, v in test_metrics.items()})
        with atomic_write(directory / "metrics.json") as stream:
            json.dump(metrics, stream, indent=2)
    return model


def _seed(blocks: Dict[str, Any], key: str, default: int) -> Optional[int]:
    value = blocks[key]
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigurationError(f"expected int, found {type(value).__name__}", key)
    return value


def _path(blocks: Dict[str, Any], key: str) -> Optional[str]:
    value = blocks[key]
    if value is not None and not isinstance(value, str):
        raise ConfigurationError(f"expected str, found {type(value).__name__}", key)
    return value


def evaluation_loader_config(validation: Optional[Dict[str, Any]],
                             training: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """The data loader config for validation, test and `lmlab evaluate`: the `validation_data_loader`
    block if given, else the training one without shuffling."""
    return validation or merge_overrides(training or DEFAULT_DATA_LOADER, {"shuffle": False})


def build_data_loader(config: Dict[str, Any], reader: DatasetReader, data_path: str) -> DataLoader:
    """A data loader from its config (errors located under `data_loader`) for `reader` and `data_path`."""
    lazy: Lazy[DataLoader] = Lazy(DataLoader, Params(copy.deepcopy(config), "data_loader"))
    return lazy.construct(reader=reader, data_path=data_path)


def _vocabulary(blocks: Dict[str, Any], loaders: Dict[str, DataLoader], directory: Path, recover: bool) -> Vocabulary:
    vocab_dir = directory / VOCABULARY_NAME
    if recover and vocab_dir.is_dir():
        return Vocabulary.from_files(str(vocab_dir))
    datasets: List[str] = blocks["datasets_for_vocab_creation"] or list(loaders)
    unknown = [name for name in datasets if name not in loaders]
    if unknown:
        raise ConfigurationError(f'no "{unknown[0]}" data (have: {", ".join(loaders)})', "datasets_for_vocab_creation")
    instances = chain.from_iterable(loaders[name].iter_instances() for name in datasets)
    vocab = Vocabulary.from_params(blocks["vocabulary"] or Params({}, "vocabulary"), instances=instances)
    vocab.save_to_files(str(vocab_dir))
    return vocab


def _write_or_check_config(directory: Path, config: Dict[str, Any], recover: bool) -> None:
    path = directory / CONFIG_NAME
    if recover and path.is_file():
        saved = json.loads(path.read_text())
        difference = _first_difference(_without_device(saved), _without_device(config))
        if difference:
            raise ConfigurationError(f"differs from the run being recovered ({path}); "
                                     "recover with the same config, or start a new run", difference)
        return
    with atomic_write(path) as stream:
        json.dump(config, stream, indent=2)


def _without_device(config: Dict[str, Any]) -> Dict[str, Any]:
    trainer = {k: v for k, v in config.get("trainer", {}).items() if k != "cuda_device"}
    return {**config, "trainer": trainer}


def _first_difference(a: Any, b: Any, path: str = "") -> Optional[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            found = _first_difference(a.get(key), b.get(key), f"{path}.{key}" if path else key)
            if found:
                return found
        return None
    return None if a == b else (path or "<root>")


def _load_weights(path: Path) -> Dict[str, Any]:
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)
