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
def atomic_path(path: PathLike) -> Iterator[str]:
    """A temporary path next to `path` to write to (for libraries that open files themselves, like h5py).

    When the block ends without an exception the file gets the permissions a plain `open()` would give
    and is moved into place with `os.replace`; otherwise it is removed. A crash leaves either the old
    file or no file at `path`, never a half-written one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        yield temporary
        umask = os.umask(0)  # mkstemp makes the file 0600; read the umask without changing it
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


@contextlib.contextmanager
def atomic_write(path: PathLike, mode: str = "w", encoding: Optional[str] = "utf-8",
                 newline: Optional[str] = None) -> Iterator[IO]:
    """`open(path, mode)` whose contents appear at `path` only once complete (see `atomic_path`)."""
    with atomic_path(path) as temporary:
        with open(temporary, mode, encoding=None if "b" in mode else encoding,
                  newline=None if "b" in mode else newline) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())


def lmlab_cache_directory() -> Path:
    """Where lmlab keeps what it can rebuild (downloads, tokenised corpora): `$LMLAB_CACHE`, else
    `~/.cache/lmlab`."""
    return Path(os.environ.get("LMLAB_CACHE") or Path.home() / ".cache" / "lmlab")


def cached_path(url_or_path: str, cache_dir: Optional[PathLike] = None) -> str:
    """A local path for `url_or_path`: local paths are checked and returned as is; http(s) URLs are
    downloaded once into `cache_dir` (default `lmlab_cache_directory()`) and reused."""
    parsed = urllib.parse.urlparse(str(url_or_path))
    if parsed.scheme in ("http", "https"):
        cache = Path(cache_dir) if cache_dir is not None else lmlab_cache_directory()
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
