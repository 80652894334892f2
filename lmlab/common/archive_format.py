"""The model archive format, readable from any layer: `model.tar.gz` = config.json + vocabulary/ + weights.th +
meta.json.

`lmlab.models.archival` writes archives and turns them back into models; code below the model layer that
needs an archive's parts (a token embedder holding a trained language model's layers, say) reads the
files here. Reading never executes code from an archive: members are extracted with tarfile's "data"
filter (no links outside, no devices) and weights are read with `torch.load(weights_only=True)`, which
refuses pickled code.
"""
import contextlib
import importlib.metadata
import json
import tarfile
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterator, Union

from lmlab.common.errors import ArchiveError
from lmlab.common.file_utils import cached_path
from lmlab.common.plugins import import_plugins

if TYPE_CHECKING:
    import torch

CONFIG_NAME, WEIGHTS_NAME, META_NAME, VOCABULARY_NAME = "config.json", "weights.th", "meta.json", "vocabulary"


@contextlib.contextmanager
def extracted_archive(path: Union[str, Path]) -> Iterator[Path]:
    """The archive at `path` (local path or URL) extracted into a temporary folder, removed afterwards.

    An unreadable archive, or one missing any of the four members, is an `ArchiveError`; so is one whose
    meta.json names a plugin distribution that is not installed.
    """
    local = cached_path(str(path))
    with tempfile.TemporaryDirectory() as scratch:
        try:
            with tarfile.open(local, "r:*") as tar:
                tar.extractall(scratch, filter="data")
        except (tarfile.TarError, EOFError, OSError, ValueError) as err:
            first_line = (str(err).splitlines() or [""])[0]
            raise ArchiveError(f"cannot read archive {path}: {type(err).__name__}: {first_line} "
                               "(truncated or not a model.tar.gz?)") from err
        root = Path(scratch)
        for name in (CONFIG_NAME, WEIGHTS_NAME, META_NAME, VOCABULARY_NAME):
            if not (root / name).exists():
                raise ArchiveError(f"archive {path} has no {name}")
        _check_plugins(json.loads((root / META_NAME).read_text()), str(path))
        yield root


def read_config(root: Path) -> Dict[str, Any]:
    """config.json of an extracted archive."""
    return json.loads((root / CONFIG_NAME).read_text())


def read_weights(root: Path, path: Union[str, Path]) -> Dict[str, "torch.Tensor"]:
    """weights.th of an extracted archive (from `path`), on the CPU."""
    import torch

    try:
        return torch.load(root / WEIGHTS_NAME, map_location="cpu", weights_only=True)
    except Exception as err:  # unsafe pickle or corrupt file: refuse, never execute
        raise ArchiveError(f"refusing to load {WEIGHTS_NAME} from {path}: {str(err).splitlines()[0]}") from err


def without_pretrained_files(config: Any) -> Any:
    """`config` without its "pretrained_file" keys: rebuilding an archived architecture must not read the
    files again (the weights come from the archive, and the file may no longer exist)."""
    if isinstance(config, dict):
        return {k: without_pretrained_files(v) for k, v in config.items() if k != "pretrained_file"}
    if isinstance(config, list):
        return [without_pretrained_files(v) for v in config]
    return config


def _check_plugins(meta: Dict[str, Any], path: str) -> None:
    import_plugins()
    for plugin in meta.get("plugins", []):
        try:
            importlib.metadata.version(plugin["name"])
        except importlib.metadata.PackageNotFoundError:
            raise ArchiveError(f"archive {path} needs the plugin distribution {plugin['name']} "
                               f"(version {plugin['version']} was used); install it: "
                               f"pip install '{plugin['name']}=={plugin['version']}'") from None
