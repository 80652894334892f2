"""Atomic file writing and local/remote path resolution."""
import contextlib
import hashlib
import os
import shutil
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path
from typing import IO, Iterator, Optional, Union

from lmlab.common.errors import InputError

PathLike = Union[str, "os.PathLike[str]"]


@contextlib.contextmanager
def atomic_write(path: PathLike, mode: str = "w", encoding: Optional[str] = "utf-8") -> Iterator[IO]:
    """Write to a temporary file in the same folder and `os.replace` it into place on success.

    A crash or an exception leaves either the old file or no file, never a half-written one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, mode, encoding=None if "b" in mode else encoding) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def cached_path(url_or_path: str, cache_dir: Optional[PathLike] = None) -> str:
    """A local path for `url_or_path`: local paths are checked and returned as is; http(s) URLs are
    downloaded once into `cache_dir` (default `$LMLAB_CACHE` or `~/.cache/lmlab`) and reused."""
    parsed = urllib.parse.urlparse(str(url_or_path))
    if parsed.scheme in ("http", "https"):
        cache = Path(cache_dir or os.environ.get("LMLAB_CACHE", Path.home() / ".cache" / "lmlab"))
        target = cache / (hashlib.sha256(url_or_path.encode()).hexdigest()[:32] + "-" + Path(parsed.path).name)
        if not target.exists():
            try:
                with urllib.request.urlopen(url_or_path, timeout=60) as response, \
                        atomic_write(target, "wb") as stream:
                    shutil.copyfileobj(response, stream)
            except OSError as err:
                raise InputError(f"cannot download {url_or_path}: {err}") from err
        return str(target)
    local = parsed.path if parsed.scheme == "file" else str(url_or_path)
    if not os.path.exists(local):
        raise InputError(f"file not found: {local}")
    return local
