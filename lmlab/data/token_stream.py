"""`TokenStream`: a tokenised corpus as one array of ids, and the on-disk cache that spares tokenising it again.

A corpus of N tokens costs 4 bytes a token (int32 ids into its list of distinct words) instead of a
string object per token; read from the cache, the ids are memory-mapped, so a second run starts without
tokenising and the ids are read from the page cache as they are used.

Cache layout (`TokenStreamCache`): for every source file, under `directory`,
    KEY.json                 {"format", "source", "size", "mtime_ns", "settings", "tokens", "checksum",
                              "ids", "words"}: the file it was made from, its size and modification time,
                              the reader settings it was tokenised with, the number of tokens, a CRC-32 of
                              the ids and the words, the ids file's name and the W distinct words;
    KEY-CHECKSUM-N.npy       the (N,) int32 ids, a plain `.npy` array.
KEY is a hash of the file's real path and the settings, so a file edited later replaces its entry rather
than adding one. Both files are written atomically (temporary file, then rename; the ids first), so a
crash leaves the old entry or the new one, never half of one. An entry whose file changed (size or
modification time) is stale; one that cannot be read or whose checksum differs is corrupt; both are
rebuilt and replaced. A cache that cannot be written (read-only, full) only costs the speed-up.
"""
import json
import logging
import os
import zlib
from array import array
from hashlib import sha256
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, NamedTuple, Optional, Sequence

import numpy as np

from lmlab.common.file_utils import atomic_write, lmlab_cache_directory

logger = logging.getLogger(__name__)

CACHE_FORMAT = 1
"""Version of the cache layout; entries of another version are rebuilt."""


class TokenStream(NamedTuple):
    """A corpus as ids into its list of distinct tokens.

    Attributes
        ids: (N,) int32 array (possibly a read-only memory map); token t is `words[ids[t]]`.
        words: the W distinct tokens, in order of first appearance.
    """

    ids: np.ndarray
    words: List[str]


class _Index(Dict[str, int]):
    """token -> id, giving each new token the next id when it is first looked up."""

    def __missing__(self, token: str) -> int:
        index = self[token] = len(self)
        return index


def encode(lines: Iterable[List[str]]) -> TokenStream:
    """The stream of the tokens of `lines`, one after another (each line as it should be read, end-of-line
    token included)."""
    index = _Index()
    lookup = index.__getitem__
    ids = array("i")
    for tokens in lines:
        ids.extend(map(lookup, tokens))  # the loop over tokens runs in C; only new tokens call back
    stream = np.frombuffer(ids, dtype=np.intc).astype(np.int32, copy=False) if ids else np.zeros(0, np.int32)
    return TokenStream(stream, list(index))


def concatenate(streams: Sequence[TokenStream]) -> TokenStream:
    """One stream: the tokens of `streams` one after another, over the union of their words (in order of
    first appearance). A single stream is returned as it is (a memory map stays one)."""
    if len(streams) == 1:
        return streams[0]
    index = _Index()
    ids = np.empty(sum(len(stream.ids) for stream in streams), dtype=np.int32)  # (N,)
    start = 0
    for stream in streams:
        remap = np.fromiter(map(index.__getitem__, stream.words), dtype=np.int32, count=len(stream.words))  # (W_f,)
        np.take(remap, stream.ids, out=ids[start:start + len(stream.ids)])
        start += len(stream.ids)
    return TokenStream(ids, list(index))


def _checksum(stream: TokenStream) -> int:
    """CRC-32 of the ids' bytes, then of the words (NUL-separated UTF-8)."""
    crc = zlib.crc32(np.ascontiguousarray(stream.ids).data.cast("B"))
    return zlib.crc32("\0".join(stream.words).encode("utf-8"), crc)


class TokenStreamCache:
    """Tokenised files kept on disk as id arrays, read back memory-mapped (layout: the module docstring).

    Parameters
        directory: Optional[str] = None   where entries go; None: `token_streams/` in lmlab's cache
            directory (`$LMLAB_CACHE`, else `~/.cache/lmlab`).
    Notes
        `settings` is a string naming everything besides the file that decides its tokens (tokenizer,
        end-of-line token); a reader passes the same string for the same settings.
    """

    def __init__(self, directory: Optional[str] = None) -> None:
        self.directory = Path(directory).expanduser() if directory is not None \
            else lmlab_cache_directory() / "token_streams"

    def fetch(self, path: str, settings: str, build: Callable[[], TokenStream]) -> TokenStream:
        """The stream of file `path` from the cache, or `build()`'s, which is then stored (and returned
        memory-mapped from there)."""
        source = os.path.realpath(path)
        key = sha256(json.dumps([CACHE_FORMAT, source, settings]).encode("utf-8")).hexdigest()[:32]
        meta_path = self.directory / f"{key}.json"
        status = os.stat(source)
        described: Dict[str, Any] = {"format": CACHE_FORMAT, "source": source, "size": status.st_size,
                                     "mtime_ns": status.st_mtime_ns, "settings": settings}
        cached = self._load(meta_path, described)
        if cached is not None:
            return cached
        stream = build()
        if len(stream.ids) == 0:  # nothing worth keeping (and an empty array cannot be memory-mapped)
            return stream
        try:
            return self._store(meta_path, key, described, stream)
        except OSError as err:
            logger.warning("cannot write the token cache %s (%s); reading %s without it", self.directory, err, path)
            return stream

    def _load(self, meta_path: Path, described: Dict[str, Any]) -> Optional[TokenStream]:
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            logger.warning("corrupt token cache entry %s (%s): rebuilding it", meta_path, err)
            return None
        if not isinstance(meta, dict) or any(meta.get(name) != value for name, value in described.items()):
            logger.info("token cache entry %s is stale (its file or settings changed): rebuilding it", meta_path)
            return None
        try:
            ids_name = _ids_name(meta)
            if ids_name is None:
                raise ValueError(f"no ids file named ({meta.get('ids')!r})")
            ids = np.load(meta_path.parent / ids_name, mmap_mode="r")
            stream = TokenStream(ids, list(meta["words"]))
            if ids.dtype != np.int32 or ids.shape != (meta["tokens"],) or _checksum(stream) != meta["checksum"]:
                raise ValueError("the ids or words differ from those written")
        except (OSError, ValueError, KeyError, TypeError) as err:
            logger.warning("corrupt token cache entry %s (%s): rebuilding it", meta_path, err)
            return None
        return stream

    def _store(self, meta_path: Path, key: str, described: Dict[str, Any], stream: TokenStream) -> TokenStream:
        checksum = _checksum(stream)
        ids_name = f"{key}-{checksum:08x}-{len(stream.ids)}.npy"
        previous = _ids_name(_read_meta(meta_path))
        with atomic_write(self.directory / ids_name, "wb") as file:
            np.save(file, stream.ids, allow_pickle=False)
        with atomic_write(meta_path) as file:
            json.dump({**described, "tokens": len(stream.ids), "checksum": checksum, "ids": ids_name,
                       "words": stream.words}, file, ensure_ascii=False)
        if previous is not None and previous != ids_name:  # the ids of the entry this one replaces
            (self.directory / previous).unlink(missing_ok=True)
        logger.info("cached the %d tokens of %s in %s", len(stream.ids), described["source"], meta_path)
        return TokenStream(np.load(self.directory / ids_name, mmap_mode="r"), stream.words)


def _read_meta(meta_path: Path) -> Any:
    """The JSON of an entry's metadata file, or None when there is none or it cannot be read."""
    try:
        return json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _ids_name(meta: Any) -> Optional[str]:
    """The ids file that an entry's metadata names, when it names a plausible one (a plain .npy name)."""
    name = meta.get("ids") if isinstance(meta, dict) else None
    return name if isinstance(name, str) and name.endswith(".npy") and os.path.basename(name) == name else None
