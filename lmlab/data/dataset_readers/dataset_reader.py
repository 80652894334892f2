"""`DatasetReader`: reads data files into a lazy stream of `Instance`s, sharded across loader workers."""
import glob
import itertools
import logging
import os
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple, TypeVar

from lmlab.common.constraints import PositiveInt
from lmlab.common.errors import InputError, did_you_mean
from lmlab.common.registrable import Registrable
from lmlab.data.instance import Instance
from lmlab.data.instance_table import InstanceList, InstanceTable
from lmlab.data.token_indexers.token_indexer import TokenIndexer
from lmlab.data.tokenizers.tokenizer import Tokenizer
from lmlab.data.tokenizers.whitespace import WhitespaceTokenizer

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

WHITESPACE_TOKENIZER = WhitespaceTokenizer()
"""Readers' default tokenizer. It is stateless, so one instance serves every reader (no call in a signature)."""


@dataclass(frozen=True)
class TokenFraming:
    """How a reader turns the tokens of one sentence into the sequence a model is trained on.

    Attributes
        start_tokens: put before the sentence (e.g. ("<S>",)).
        end_tokens: put after it (e.g. ("</S>",), or a contiguous reader's end-of-line token).
        max_length: the longest framed sequence, start and end tokens included (None: no limit). A
            longer sentence keeps its first `max_length - len(start_tokens) - len(end_tokens)` tokens.
        reverse: the sentence is read from its last token to its first (a backward language model).
    """

    start_tokens: Tuple[str, ...] = ()
    end_tokens: Tuple[str, ...] = ()
    max_length: Optional[int] = None
    reverse: bool = False

    def cut(self, tokens: List[str]) -> List[str]:
        """The tokens of the sentence that are kept (all of them when there is no limit)."""
        if self.max_length is None:
            return tokens
        return tokens[: max(self.max_length - len(self.start_tokens) - len(self.end_tokens), 0)]

    def ordered(self, tokens: List[str]) -> List[str]:
        """The sentence's tokens in reading order: reversed when `reverse`."""
        return tokens[::-1] if self.reverse else tokens

    def frame(self, tokens: List[str]) -> List[str]:
        """start_tokens + ordered(cut(tokens)) + end_tokens: what the model sees for this sentence."""
        return [*self.start_tokens, *self.ordered(self.cut(tokens)), *self.end_tokens]


class DatasetReader(Registrable):
    """Turns a file, a folder of shard files or a glob into a lazy, deterministic stream of instances.

    Implementations provide `_read(file_path)` for ONE file and `text_to_instance(...)` for one
    example given as text (what a predictor calls). Readers of text also set `tokenizer` and
    `token_indexers` (and `framing` when they add start/end tokens or cut sentences), which predictors
    use to see their input exactly as training did.

    Parameters
        max_instances: Optional[PositiveInt] = None   stop after this many instances of the whole stream
                                              (counted before worker sharding).
    Inputs
        `read(file_path)`: a file; a folder (its non-hidden files, sorted by name, not recursive); or
        a glob pattern ("data/train-*.txt", matches sorted). Checked at once: a missing path is an
        `InputError` naming it.
    Outputs
        An iterator of `Instance`s, the same ones in the same order on every call. `read_all(file_path)`:
        all of them at once, as the `InstanceTable` that an in-memory data loader keeps.
    Attributes
        tokenizer: Tokenizer                      splits a text into tokens.
        token_indexers: Dict[str, TokenIndexer]   index the tokens of every text field.
        framing: TokenFraming                     start/end tokens and length limit put on each sentence
                                                  (default: none); `_read` and `text_to_instance` apply it.
    Notes
        Worker sharding: inside a `torch.utils.data` worker w of W, `read` yields only that worker's
        share. With at least W files (and no `max_instances`) worker w reads files w, w+W, ...;
        otherwise every worker runs through the whole stream and keeps instances w, w+W, ... (in
        chunks of `shard_chunk_size` consecutive instances), which costs W-fold reading: give a
        big corpus at least as many shard files as workers.
    """

    tokenizer: Tokenizer
    token_indexers: Dict[str, TokenIndexer]
    framing: TokenFraming = TokenFraming()

    def __init__(self, max_instances: Optional[PositiveInt] = None) -> None:
        self.max_instances = max_instances

    # --- what implementations provide ---------------------------------------------------------------
    def _read(self, file_path: str) -> Iterable[Instance]:
        """Instances of one file, in file order."""
        raise NotImplementedError

    def text_to_instance(self, *inputs: Any) -> Instance:
        """One instance from raw input (used by `_read` and by predictors)."""
        raise NotImplementedError

    def _read_files(self, file_paths: List[str]) -> Iterable[Instance]:
        """Instances of several files. Default: each file read by `_read`, one after another."""
        return itertools.chain.from_iterable(map(self._read, file_paths))

    @property
    def shard_chunk_size(self) -> int:
        """Consecutive instances that go to the same worker when sharding by instance (default 1)."""
        return 1

    @property
    def can_shard_by_file(self) -> bool:
        """True when reading a subset of the files gives exactly a subset of the instances."""
        return True

    # --- reading --------------------------------------------------------------------------------------
    def read(self, file_path: str) -> Iterator[Instance]:
        """Lazy iterator over the instances of `file_path` (see the class docstring)."""
        return self._shard(resolve_data_paths(file_path))

    def read_all(self, file_path: str) -> InstanceTable:
        """Every instance of `file_path` at once, for a data loader that keeps them in memory.
        Default: the instances of `read`, in an `InstanceList`; a reader whose data is arrays may return
        a table that batches them without an `Instance` per example (it must give the same batches)."""
        return InstanceList(list(self.read(file_path)))

    def _shard(self, files: List[str]) -> Iterator[Instance]:
        from torch.utils.data import get_worker_info  # imported here to keep `import lmlab.data` light

        info = get_worker_info()
        num_workers, worker = (1, 0) if info is None else (info.num_workers, info.id)
        if num_workers > 1 and self.max_instances is None and len(files) >= num_workers and self.can_shard_by_file:
            yield from self._read_files(files[worker::num_workers])
            return
        stream: Iterable[Instance] = self._read_files(files)
        if self.max_instances is not None:
            stream = itertools.islice(stream, self.max_instances)
        if num_workers == 1:
            yield from stream
            return
        chunk = self.shard_chunk_size
        for position, instance in enumerate(stream):
            if (position // chunk) % num_workers == worker:
                yield instance


def resolve_data_paths(file_path: str) -> List[str]:
    """The files `file_path` names: itself, the non-hidden files of a folder, or a glob's matches."""
    path = os.path.expanduser(file_path)
    if os.path.isfile(path):
        return [path]
    if os.path.isdir(path):
        files = sorted(os.path.join(path, name) for name in os.listdir(path) if not name.startswith("."))
        files = [file for file in files if os.path.isfile(file)]
        if not files:
            raise InputError("folder contains no data files (hidden files and sub-folders are skipped)", file_path)
        return files
    if any(character in path for character in "*?["):
        matches = sorted(match for match in glob.glob(path)
                         if os.path.isfile(match) and not os.path.basename(match).startswith("."))
        if not matches:
            raise InputError("no files match this pattern", file_path)
        return matches
    parent = os.path.dirname(path) or "."
    siblings = os.listdir(parent) if os.path.isdir(parent) else []
    raise InputError(f"no such file or folder{did_you_mean(os.path.basename(path), siblings)}", file_path)


def iter_lines(file_path: str) -> Iterator[str]:
    """Lines of a UTF-8 file without their line ends; a decoding error names `file:line`."""
    with open(file_path, "rb") as file:
        for number, raw in enumerate(file, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise InputError(f"not valid UTF-8 (byte {err.start} of the line)", f"{file_path}:{number}") from None
            if number == 1 and line.startswith("\ufeff"):  # byte-order mark
                line = line[1:]
            yield line.rstrip("\r\n")


def chunked(items: Iterable[_T], size: int) -> Iterator[List[_T]]:
    """Consecutive lists of `size` items (the last may be shorter), for batch tokenization."""
    iterator = iter(items)
    while True:
        chunk = list(itertools.islice(iterator, size))
        if not chunk:
            return
        yield chunk
