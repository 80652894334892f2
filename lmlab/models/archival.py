"""Model archives: `model.tar.gz` = config.json + vocabulary/ + weights.th + meta.json (+ transformers/).

A config that names pretrained Hugging Face models (`model_name` keys) has their config and tokenizer files
(not their weights: those are in weights.th) in `transformers/<k>/`, listed by `transformers/index.json`
({model_name: k}). Loading copies them to lmlab's cache (`transformers/<content hash>/`) and points those
`model_name`s there, the model's components building their architecture from those files alone
(`load_weights: false`), so an archive loads offline and after the original folder is gone.

`meta.json` records the lmlab version and the plugin distributions (name, version) whose components
the model and its dataset reader use. Loading never executes code from the archive: members are
extracted with tarfile's "data" filter (no links outside, no devices) and weights are read with
`torch.load(weights_only=True)`, which refuses pickled code. Reading the files is
`lmlab.common.archive_format`'s job (so that layers below this one can read an archive too); this module
writes archives and builds models from them.
"""
import io
import json
import os
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import torch

from lmlab.common.archive_format import (
    CONFIG_NAME,
    META_NAME,
    VOCABULARY_NAME,
    WEIGHTS_NAME,
    extracted_archive,
    read_config,
    read_weights,
    without_pretrained_files,
)
from lmlab.common.errors import ArchiveError, ConfigurationError
from lmlab.common.file_utils import atomic_write
from lmlab.common.from_params import classes_in
from lmlab.common.params import Params, merge_overrides
from lmlab.common.plugins import distribution_of
from lmlab.common.util import resolve_device
from lmlab.data.dataset_readers.dataset_reader import DatasetReader
from lmlab.data.vocabulary import Vocabulary
from lmlab.models.model import Model
from lmlab.version import VERSION

__all__ = ["CONFIG_NAME", "META_NAME", "VOCABULARY_NAME", "WEIGHTS_NAME", "Archive", "archive_model", "build_model",
           "load_archive", "plugin_distributions"]


@dataclass
class Archive:
    """A loaded archive: the model (in eval mode), its full config and its dataset readers."""

    model: Model
    config: Dict[str, Any]
    dataset_reader: DatasetReader
    validation_dataset_reader: DatasetReader


def plugin_distributions(config: Dict[str, Any]) -> List[Dict[str, str]]:
    """Distributions (other than lmlab) providing a class that loading an archive of the filled `config`
    builds: the model and the dataset readers, read from the registered names the config gives."""
    classes = [*classes_in(Model, config.get("model")), *classes_in(DatasetReader, config.get("dataset_reader")),
               *classes_in(DatasetReader, config.get("validation_dataset_reader"))]
    found = {}
    for module in sorted({klass.__module__ for klass in classes}):
        if module.split(".")[0] == "lmlab":
            continue
        distribution = distribution_of(module)
        if distribution:
            found[distribution["name"]] = distribution
    return sorted(found.values(), key=lambda d: d["name"])


def archive_model(serialization_dir: Union[str, Path], config: Dict[str, Any], model: Model,
                  weights: Optional[Union[str, Path]] = None, archive_path: Optional[Union[str, Path]] = None) -> Path:
    """Write `model.tar.gz` (atomically) into `serialization_dir` from `weights` (default: the model's own)."""
    serialization_dir = Path(serialization_dir)
    archive_path = Path(archive_path or serialization_dir / "model.tar.gz")
    state = torch.load(weights, map_location="cpu", weights_only=True) if weights else model.state_dict()
    meta = {"lmlab_version": VERSION, "plugins": plugin_distributions(config)}
    with tempfile.TemporaryDirectory() as scratch:
        model.vocab.save_to_files(str(Path(scratch) / VOCABULARY_NAME))
        transformers = _save_transformer_files(config, Path(scratch) / TRANSFORMERS_NAME)
        with atomic_write(archive_path, "wb") as stream, tarfile.open(fileobj=stream, mode="w:gz") as tar:
            _add_bytes(tar, CONFIG_NAME, json.dumps(config, indent=2).encode())
            _add_bytes(tar, META_NAME, json.dumps(meta, indent=2).encode())
            buffer = io.BytesIO()
            torch.save({k: v.cpu() if isinstance(v, torch.Tensor) else v for k, v in state.items()}, buffer)
            _add_bytes(tar, WEIGHTS_NAME, buffer.getvalue())
            tar.add(Path(scratch) / VOCABULARY_NAME, arcname=VOCABULARY_NAME)
            if transformers:
                tar.add(Path(scratch) / TRANSFORMERS_NAME, arcname=TRANSFORMERS_NAME)
    return archive_path


TRANSFORMERS_NAME = "transformers"
"""The archive folder of the pretrained Hugging Face models' config and tokenizer files."""
TRANSFORMER_TYPES = frozenset({"pretrained_transformer", "pretrained_transformer_mismatched",
                               "pretrained_transformer_embedding", "bert", "gpt2"})
"""Registered names of the model components that build a pretrained model from `model_name` (and take
`load_weights`)."""


def _model_names(config: Any) -> List[str]:
    """Every `model_name` string in `config`, in order of appearance, each once."""
    found: List[str] = []
    if isinstance(config, dict):
        name = config.get("model_name")
        if isinstance(name, str):
            found.append(name)
        for value in config.values():
            found.extend(_model_names(value))
    elif isinstance(config, list):
        for value in config:
            found.extend(_model_names(value))
    return list(dict.fromkeys(found))


def _save_transformer_files(config: Dict[str, Any], directory: Path) -> bool:
    """Write the config and tokenizer files of every pretrained model `config` names into `directory`/<k>/,
    with index.json; False (nothing written) when it names none."""
    names = _model_names(config)
    if not names:
        return False
    from lmlab.common.pretrained_transformers import load_config, load_tokenizer

    index = {}
    for number, name in enumerate(names):
        folder = directory / str(number)
        load_config(name).save_pretrained(folder)
        load_tokenizer(name).save_pretrained(folder)
        index[name] = str(number)
    (directory / "index.json").write_text(json.dumps(index, indent=2))
    return True


def _with_archived_transformers(root: Path, config: Dict[str, Any]) -> Dict[str, Any]:
    """`config` with its `model_name`s pointing at the cached copies of the archive's transformer files, and
    the model's pretrained components set to build from them without weights (see the module docstring)."""
    index_path = root / TRANSFORMERS_NAME / "index.json"
    if not index_path.is_file():
        return config
    index = json.loads(index_path.read_text())
    copies = {name: _cached_copy(root / TRANSFORMERS_NAME / folder) for name, folder in index.items()}

    def rewrite(value: Any, in_model: bool) -> Any:
        if isinstance(value, list):
            return [rewrite(item, in_model) for item in value]
        if not isinstance(value, dict):
            return value
        rewritten = {key: rewrite(item, in_model) for key, item in value.items()}
        if isinstance(value.get("model_name"), str) and value["model_name"] in copies:
            rewritten["model_name"] = copies[value["model_name"]]
            if in_model and value.get("type") in TRANSFORMER_TYPES:
                rewritten["load_weights"] = False
        return rewritten

    return {key: rewrite(value, key == "model") for key, value in config.items()}


def _cached_copy(folder: Path) -> str:
    """A copy of `folder` (small files) in lmlab's cache, named by a hash of its contents; made once."""
    import hashlib
    import shutil

    from lmlab.common.file_utils import lmlab_cache_directory

    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    target = lmlab_cache_directory() / TRANSFORMERS_NAME / digest.hexdigest()[:24]
    if not target.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-"))
        shutil.copytree(folder, staging, dirs_exist_ok=True)
        try:
            os.replace(staging, target)
        except OSError:  # another process put the same copy there first
            shutil.rmtree(staging, ignore_errors=True)
    return str(target)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def load_archive(path: Union[str, Path], overrides: Union[str, Dict[str, Any], None] = None,
                 cuda_device: int = -1) -> Archive:
    """Load a `model.tar.gz` (local path or URL) into an `Archive`; the model is in eval mode."""
    with extracted_archive(path) as root:
        config = _with_archived_transformers(root, read_config(root))
        if overrides:
            override_dict = overrides if isinstance(overrides, dict) else _parse_overrides(overrides)
            config = merge_overrides(config, override_dict)
        vocab = Vocabulary.from_files(str(root / VOCABULARY_NAME))
        state = read_weights(root, path)
    model = build_model(config, vocab)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ArchiveError(f"weights in {path} do not fit the configured model "
                           f"(missing: {missing[:3]}, unexpected: {unexpected[:3]})")
    model = model.to(resolve_device(cuda_device)).eval()
    reader = DatasetReader.from_params(Params(config["dataset_reader"], "dataset_reader"))
    validation_config = config.get("validation_dataset_reader")
    validation_reader = DatasetReader.from_params(Params(validation_config, "validation_dataset_reader")) \
        if validation_config else reader
    return Archive(model, config, reader, validation_reader)


def build_model(config: Dict[str, Any], vocab: Vocabulary) -> Model:
    """The archived model's architecture; pretrained-embedding files are not read again (the weights
    come from the archive, and the file may no longer exist)."""
    if "model" not in config:  # run time: the config an archive holds
        raise ConfigurationError("missing required key", "model")
    return Model.from_params(Params(without_pretrained_files(config["model"]), "model"), vocab=vocab)


def _parse_overrides(overrides: str) -> Dict[str, Any]:
    from lmlab.common.params import evaluate_jsonnet

    return evaluate_jsonnet(snippet=overrides)

