"""The one run lifecycle: `run_experiment` takes a checked config to an archived model in a run folder;
`train_model` is `lmlab train` on it, and other run-producing commands (`lmlab prune`) call it with a
`RunRecipe` that says what differs (where the model comes from, what happens after training).

Top-level config keys: see `CONFIG_KEYS`.

Order of work, and what a failure leaves on disk
    1. `check_config` reads the whole config as building it will, without any data: keys, types,
       registered names and required arguments of every block. Every problem of every block is reported
       at once, before any file is read or written (`lmlab check` and `lmlab train --dry-run` stop here).
       Callers check before they call `run_experiment`.
    2. A new run is prepared in a hidden sibling folder `.{name}.tmp-XXXXXXXX`: data read, vocabulary
       built and saved, model and trainer built, filled config written. Only then is it renamed to the
       run folder; with `--force` the old run is moved aside and deleted at that moment, not before. A
       mistake found while preparing leaves no new folder and an existing run untouched.
    3. Training writes into the run folder itself: the model and trainer are given its final path (their
       constructors write nothing, so they can be built before it exists), and the checkpoints they
       write stay valid. A run whose training fails before its first checkpoint is removed, since there
       is nothing to recover and retrying should just work; from the first checkpoint on a failed or
       killed run stays for `--recover`, which continues in place. (A process killed before its first
       checkpoint cannot clean up: its folder has no checkpoint, and `--recover` starts from the beginning.)
    3'. A run that cannot be recovered (`RunRecipe.recoverable` False: `lmlab prune`, whose result only
       counts once its last step has passed) trains, finishes and archives in the staging folder, and is
       moved into place only then: a failure at any step leaves no new folder and a previous run
       byte-identical.
"""
import contextlib
import copy
import json
import logging
import os
import secrets
import shutil
from pathlib import Path
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Tuple

from lmlab.common.errors import ConfigurationError, LmlabError
from lmlab.common.file_utils import atomic_write
from lmlab.common.from_params import validate
from lmlab.common.lazy import Lazy
from lmlab.common.params import Params, merge_overrides
from lmlab.common.util import set_seeds
from lmlab.data.data_loaders import DataLoader
from lmlab.data.dataset_readers.dataset_reader import DatasetReader
from lmlab.data.vocabulary import Vocabulary
from lmlab.models.archival import CONFIG_NAME, VOCABULARY_NAME, archive_model
from lmlab.models.model import Model
from lmlab.training import distributed
from lmlab.training.checkpointer import Checkpointer
from lmlab.training.evaluation import evaluate_model
from lmlab.training.trainer import Trainer

logger = logging.getLogger(__name__)

DEFAULT_DATA_LOADER: Dict[str, Any] = {"batch_size": 32}

_REQUIRED = object()

CONFIG_KEYS: Dict[str, Tuple[Any, Any, Tuple[str, ...]]] = {
    "dataset_reader": (DatasetReader, _REQUIRED, ()),
    "validation_dataset_reader": (Optional[DatasetReader], None, ()),
    "train_data_path": (Optional[str], None, ()),  # required unless trainer.num_epochs is 0
    "validation_data_path": (Optional[str], None, ()),
    "test_data_path": (Optional[str], None, ()),
    "data_loader": (DataLoader, DEFAULT_DATA_LOADER, DataLoader.run_time_arguments),
    "validation_data_loader": (Optional[DataLoader], None, DataLoader.run_time_arguments),
    "datasets_for_vocab_creation": (Optional[List[str]], None, ()),
    "vocabulary": (Vocabulary, {}, ("instances",)),
    "model": (Model, _REQUIRED, ("vocab", "serialization_dir")),
    "trainer": (Trainer, {}, Trainer.run_time_arguments),
    "evaluate_on_test": (bool, False, ()),
    "random_seed": (int, 13370, ()),
    "numpy_seed": (int, 1337, ()),
    "pytorch_seed": (int, 133, ()),
}
"""Top-level keys, in the order a run builds them: (annotation, default, the run-time arguments
`train_model` builds the block with). A key set to null takes its default."""


def check_config(params: Params, cuda_device: Optional[int] = None) -> Dict[str, Any]:
    """The filled config of a training run (every default explicit), checked without reading any data.

    Every block is read as `train_model` will build it (`lmlab.common.from_params.validate`), and one
    `ConfigurationError` lists every problem of every block. `cuda_device` (given on the command line)
    replaces `trainer.cuda_device`. `params` is not modified. This is the config a run writes.
    """
    raw = params.as_dict()
    if cuda_device is not None:
        raw = merge_overrides({**raw, "trainer": raw.get("trainer") or {}}, {"trainer.cuda_device": cuda_device})
    errors: List[LmlabError] = []
    try:
        Params({k: v for k, v in raw.items() if k not in CONFIG_KEYS}).assert_empty("the config",
                                                                                  allowed=list(CONFIG_KEYS))
    except ConfigurationError as err:
        errors.append(err)
    filled: Dict[str, Any] = {}
    # no training data: only for a run that archives its model as built (trainer.num_epochs 0)
    trains = not isinstance(raw.get("trainer"), dict) or raw["trainer"].get("num_epochs") != 0
    for key, (annotation, default, run_time) in CONFIG_KEYS.items():
        value = default if raw.get(key) is None else raw[key]
        if value is _REQUIRED or (key == "train_data_path" and value is None and trains):
            errors.append(ConfigurationError("missing required key", key))
            continue
        try:
            filled[key] = validate(annotation, value, key, run_time)
        except ConfigurationError as err:
            errors.append(err)
    datasets = [name for name in ("train", "validation", "test") if raw.get(f"{name}_data_path")]
    for index, name in enumerate(filled.get("datasets_for_vocab_creation") or []):
        if name not in datasets:
            errors.append(ConfigurationError(f'no "{name}" data (have: {", ".join(datasets)})',
                                             f"datasets_for_vocab_creation[{index}]"))
    if errors:
        raise ConfigurationError.combine(errors)
    return filled


class RunRecipe:
    """What a run-producing command changes in `run_experiment`; this base is `lmlab train`'s recipe.

    Attributes
        recoverable: bool = True   the run folder is in place while training, so `--recover` finds its
                                   checkpoints; False: moved into place only once archived (see the
                                   module docstring).
    Methods (hooks, called in this order)
        initial_model(config) -> Optional[Model]   a model to train instead of building `config["model"]`
            (its vocabulary is the run's; none is built from data). Called after the seeds are set.
        finish(model, loaders, config) -> (config to archive, extra metrics)   after training, on the best
            weights; may change the model (e.g. delete layers) or raise a `LmlabError`, leaving no archive.
    """

    recoverable = True

    def initial_model(self, config: Dict[str, Any]) -> Optional[Model]:
        return None

    def finish(self, model: Model, loaders: Dict[str, DataLoader],
               config: Dict[str, Any]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        return config, {}


def train_model(params: Params, serialization_dir: str, recover: bool = False, force: bool = False,
                cuda_device: Optional[int] = None) -> Model:
    """Train from `params` into `serialization_dir` and write `model.tar.gz`; returns the best model.

    See the module docstring for the order of work and what a failure leaves on disk.
    """
    if recover and force:
        raise ConfigurationError("use either --recover or --force, not both")
    config = check_config(params, cuda_device)
    return run_experiment(config, serialization_dir, RunRecipe(), recover=recover, force=force)[0]


def run_experiment(config: Dict[str, Any], serialization_dir: str, recipe: RunRecipe, recover: bool = False,
                   force: bool = False) -> Tuple[Model, Dict[str, Any]]:
    """Prepare, train, finish and archive the run of a checked config (`check_config`) in `serialization_dir`.

    Returns the final model and the run's metrics (also in `metrics.json`). See the module docstring.
    """
    directory = Path(os.path.abspath(serialization_dir))  # a real name, so its siblings can be made
    if recover:
        if not recipe.recoverable:
            raise ConfigurationError("this kind of run cannot be recovered: start it again")
        if not (directory / CONFIG_NAME).is_file():
            raise ConfigurationError(f"nothing to recover: {directory / CONFIG_NAME} does not exist")
        return _train(_prepare(config, directory, directory, True, recipe), config, directory, True, recipe)
    if not distributed.is_main_process():  # rank 0 alone makes the run folder; the others build the same run
        return _train(_prepare(config, directory, directory, False, recipe), config, directory, False, recipe)
    _check_new_run_directory(directory, force)
    if not recipe.recoverable:  # the whole run in the staging folder: nothing is replaced until it is done
        with _staging_directory(directory) as staging:
            result = _train(_prepare(config, staging, staging, False, recipe), config, staging, False, recipe)
            _move_into_place(staging, directory, force)
        return result
    with _staging_directory(directory) as staging:
        run = _prepare(config, staging, directory, False, recipe)
        _move_into_place(staging, directory, force)
    try:
        return _train(run, config, directory, False, recipe)
    except BaseException:
        if Checkpointer(str(directory)).latest() is None:  # nothing to recover: leave no folder behind
            shutil.rmtree(directory, ignore_errors=True)
        raise


class _Run(NamedTuple):
    reader: DatasetReader
    loaders: Dict[str, DataLoader]
    model: Model
    trainer: Optional[Trainer]


def _prepare(config: Dict[str, Any], workdir: Path, directory: Path, recover: bool, recipe: RunRecipe) -> _Run:
    """Read the data and build everything; the vocabulary and config go to `workdir`, while the model and
    trainer are given the run folder `directory`, where they will write once training starts."""
    set_seeds(config["random_seed"], config["numpy_seed"], config["pytorch_seed"])
    initial = recipe.initial_model(config)
    reader = DatasetReader.from_params(_block(config, "dataset_reader"))
    validation_reader = DatasetReader.from_params(_block(config, "validation_dataset_reader")) \
        if config["validation_dataset_reader"] is not None else reader
    validation_config = evaluation_loader_config(config["validation_data_loader"], config["data_loader"])
    validation_block = "validation_data_loader" if config["validation_data_loader"] is not None else "data_loader"
    loaders = {"train": build_data_loader(config["data_loader"], reader, config["train_data_path"])} \
        if config["train_data_path"] else {}
    for name in ("validation", "test"):
        if config[f"{name}_data_path"]:
            loaders[name] = build_data_loader(validation_config, validation_reader, config[f"{name}_data_path"],
                                              validation_block)
    if initial is None:
        vocab = _vocabulary(config, loaders, workdir, recover)
    else:
        vocab = initial.vocab
        if distributed.is_main_process():
            vocab.save_to_files(str(workdir / VOCABULARY_NAME))
    for loader in loaders.values():
        loader.index_with(vocab)
    if distributed.is_distributed():  # each process takes its share; all run as many training batches
        for name, loader in loaders.items():
            try:
                loader.shard(distributed.rank(), distributed.world_size(), even=name == "train")
            except ConfigurationError as err:
                raise err.relocate("data_loader" if name == "train" else validation_block) from None
    model = initial if initial is not None else \
        Model.from_params(_block(config, "model"), vocab=vocab, serialization_dir=str(directory))
    # no training data (checked: num_epochs is 0): no trainer, the model is archived as built
    trainer = Trainer.from_params(_block(config, "trainer"), model=model, data_loader=loaders["train"],
                                  validation_data_loader=loaders.get("validation"), serialization_dir=str(directory)) \
        if "train" in loaders else None
    _write_or_check_config(workdir, config, recover)
    return _Run(reader, loaders, model, trainer)


def _train(run: _Run, config: Dict[str, Any], directory: Path, recover: bool,
           recipe: RunRecipe) -> Tuple[Model, Dict[str, Any]]:
    model = run.model
    if run.trainer is None:  # no training data (checked: num_epochs is 0): the model is archived as built
        archived, metrics = recipe.finish(model, run.loaders, config)
        if distributed.is_main_process():
            archive_model(directory, archived, model)
        return model, metrics
    if recover and not run.trainer.resume():
        logger.info("no checkpoint in %s: starting from the beginning", directory)
    try:
        metrics = run.trainer.train()
    except KeyboardInterrupt:
        if recipe.recoverable and (directory / "best.th").is_file() and distributed.is_main_process():
            archive_model(directory, config, model, weights=directory / "best.th")
        raise
    if (directory / "best.th").is_file():
        model.load_state_dict(_load_weights(directory / "best.th"))
    archived, extra = recipe.finish(model, run.loaders, config)
    metrics.update(extra)
    if distributed.is_main_process():
        archive_model(directory, archived, model)
    if "test" in run.loaders and config["evaluate_on_test"]:
        test_metrics = evaluate_model(model, run.loaders["test"], model.device(), progress_bar=False)
        metrics.update({f"test_{k}": v for k, v in test_metrics.items()})
    if distributed.is_main_process():
        with atomic_write(directory / "metrics.json") as stream:
            json.dump(metrics, stream, indent=2)
    return model, metrics


def _block(config: Dict[str, Any], key: str) -> Params:
    return Params(copy.deepcopy(config[key]), key)


def _check_new_run_directory(directory: Path, force: bool) -> None:
    """A new run may go where nothing is, or an empty folder, or (with `force`) a previous run."""
    if directory.exists() and not directory.is_dir():
        raise ConfigurationError(f"serialization directory {directory} exists and is not a directory")
    if directory.is_dir() and any(directory.iterdir()) and not force:
        raise ConfigurationError(f"serialization directory {directory} is not empty; "
                                 "use --recover to continue that run or --force to overwrite it")


@contextlib.contextmanager
def _staging_directory(directory: Path) -> Iterator[Path]:
    """A new hidden folder beside `directory` (same file system, so it can be renamed into place);
    removed if the block fails."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = directory.parent / f".{directory.name}.tmp-{secrets.token_hex(4)}"
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _move_into_place(staging: Path, directory: Path, force: bool) -> None:
    """Rename `staging` to `directory`. Whatever is at `directory` (an empty folder, or a previous run
    with --force) is first moved aside, and deleted only once the new run is in place."""
    _check_new_run_directory(directory, force)  # again: another process may have written there meanwhile
    if not directory.exists():
        os.rename(staging, directory)
        return
    aside = staging.with_name(staging.name.replace(".tmp-", ".old-", 1))
    os.rename(directory, aside)
    try:
        os.rename(staging, directory)
    except BaseException:
        os.rename(aside, directory)
        raise
    shutil.rmtree(aside)


def evaluation_loader_config(validation: Optional[Dict[str, Any]],
                             training: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """The data loader config for validation, test and `lmlab evaluate`: the `validation_data_loader`
    block if given, else the training one without shuffling and without `batches_per_epoch` (evaluation
    covers the data exactly once)."""
    if validation:
        return validation
    config = merge_overrides(training or DEFAULT_DATA_LOADER, {"shuffle": False})
    config.pop("batches_per_epoch", None)
    return config


def build_data_loader(config: Dict[str, Any], reader: DatasetReader, data_path: str,
                      path: str = "data_loader") -> DataLoader:
    """A data loader from its config (errors located under `path`) for `reader` and `data_path`."""
    lazy: Lazy[DataLoader] = Lazy(DataLoader, Params(copy.deepcopy(config), path))
    return lazy.construct(reader=reader, data_path=data_path)


def _vocabulary(config: Dict[str, Any], loaders: Dict[str, DataLoader], directory: Path,
                recover: bool) -> Vocabulary:
    vocab_dir = directory / VOCABULARY_NAME
    if recover and vocab_dir.is_dir():
        return Vocabulary.from_files(str(vocab_dir))
    datasets: List[str] = config["datasets_for_vocab_creation"] or list(loaders)  # names checked by check_config
    # the loaders count their data as a whole (a lean reader's arrays need no instance per example)
    vocab = Vocabulary.from_params(_block(config, "vocabulary"), instances=[loaders[name] for name in datasets])
    if distributed.is_main_process():
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
    if distributed.is_main_process():
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
