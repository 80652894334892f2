"""`Vocabulary`: the token <-> index mappings of every namespace ("tokens", "token_characters", "labels").

A *padded* namespace reserves index 0 for the padding token and index 1 for the out-of-vocabulary (OOV)
token; unknown tokens map to 1. A *non-padded* namespace (name matching a pattern in
`non_padded_namespaces`, by default `*tags` and `*labels`) has neither, and an unknown token in it is an
input error. Tokens are ordered by count, descending, ties by token string, so the same data always
gives the same indices: a namespace built from counts is *frequency sorted* (most frequent first after
the padding/OOV entries and any `tokens_to_add`), which the adaptive softmax relies on. That property is
recorded per namespace (`is_frequency_sorted`) and saved with the files; adding a new token to a
namespace later (by hand, or extending it) clears it, since the new token's frequency is unknown.

On disk (`save_to_files` / `from_files`): one UTF-8 file per namespace, `<namespace>.txt`, one token per
line in index order (a padded namespace starts with the padding and OOV lines), plus
`non_padded_namespaces.txt` with one pattern per line, and `frequency_sorted_namespaces.txt` with the
frequency-sorted namespaces, one per line (absent in older or hand-written directories: none is).
Backslash, newline and carriage return inside a token are written as `\\\\`, `\\n` and `\\r`.
"""
import fnmatch
import logging
import os
import re
import uuid
from itertools import repeat
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Union

import numpy as np

from lmlab.common.constraints import NonNegativeInt
from lmlab.common.errors import ArchiveError, ConfigurationError, InputError, did_you_mean
from lmlab.common.file_utils import atomic_write
from lmlab.common.registrable import Registrable

logger = logging.getLogger(__name__)

DEFAULT_PADDING_TOKEN = "@@PADDING@@"
DEFAULT_OOV_TOKEN = "@@UNKNOWN@@"
DEFAULT_NON_PADDED_NAMESPACES = ("*tags", "*labels")
NON_PADDED_NAMESPACES_FILE = "non_padded_namespaces.txt"
FREQUENCY_SORTED_NAMESPACES_FILE = "frequency_sorted_namespaces.txt"
_METADATA_FILES = (NON_PADDED_NAMESPACES_FILE, FREQUENCY_SORTED_NAMESPACES_FILE)

Counter = Dict[str, Dict[str, int]]
"""namespace -> token -> count, as filled by `Instance.count_vocab_items`."""


def make_counter() -> Counter:
    """An empty namespace -> token -> count counter for `count_vocab_items`."""
    return {}


class Vocabulary(Registrable):
    """Token <-> index mappings per namespace, built from token counts.

    Registered as a `Vocabulary` with names "from_instances" (the default; `instances` is passed by
    lmlab at run time), "from_files", "empty" and "from_pretrained_transformer".

    Parameters
        counter: Optional[Dict[str, Dict[str, int]]] = None   namespace -> token -> count.
        min_count: Optional[Dict[str, int]] = None   per namespace, drop tokens counted fewer times.
        max_vocab_size: Optional[int or Dict[str, int]] = None   keep at most this many counted tokens
            (one number for every namespace, or per namespace); padding, OOV and `tokens_to_add` do
            not count against it.
        non_padded_namespaces: Sequence[str] = ("*tags", "*labels")   fnmatch patterns of namespaces
            without padding/OOV tokens.
        tokens_to_add: Optional[Dict[str, List[str]]] = None   tokens added to a namespace whatever
            their counts, right after padding/OOV and before counted tokens (so special tokens such as
            "<S>" get small, data-independent indices).
        padding_token: str = "@@PADDING@@"   index 0 of padded namespaces.
        oov_token: str = "@@UNKNOWN@@"       index 1 of padded namespaces.
    Inputs
        tokens (str) and a namespace; `get_token_indices` takes a list of N tokens.
    Outputs
        int indices; `get_token_indices` returns an (N,) int64 numpy array.
    Notes
        Reading a namespace that does not exist yet creates it (empty, or with padding/OOV when
        padded), so `get_vocab_size("tokens")` of an empty vocabulary is 2. Equality ignores namespaces
        that hold nothing but padding/OOV, and compares token orders, not the recorded sortedness.
        `is_frequency_sorted(namespace)` is True for a namespace built from counts (see the module
        docstring); `from_files` restores it from `frequency_sorted_namespaces.txt`.
    """

    default_implementation = "from_instances"

    def __init__(self, counter: Optional[Dict[str, Dict[str, int]]] = None,
                 min_count: Optional[Dict[str, NonNegativeInt]] = None,
                 max_vocab_size: Optional[Union[NonNegativeInt, Dict[str, NonNegativeInt]]] = None,
                 non_padded_namespaces: Sequence[str] = DEFAULT_NON_PADDED_NAMESPACES,
                 tokens_to_add: Optional[Dict[str, List[str]]] = None,
                 padding_token: str = DEFAULT_PADDING_TOKEN,
                 oov_token: str = DEFAULT_OOV_TOKEN) -> None:
        self.padding_token = padding_token
        self.oov_token = oov_token
        self.non_padded_namespaces: List[str] = list(non_padded_namespaces)
        self._token_to_index: Dict[str, Dict[str, int]] = {}
        self._index_to_token: Dict[str, List[str]] = {}
        self._padded_cache: Dict[str, bool] = {}
        self._frequency_sorted: Set[str] = set()  # namespaces whose counted tokens are in count order
        self._uid = uuid.uuid4().hex
        self._version = 0  # bumped whenever a token is added

        for namespace, tokens in sorted((tokens_to_add or {}).items()):
            self.add_tokens_to_namespace(tokens, namespace)
        if counter is not None:
            self._add_counts(counter, min_count or {}, max_vocab_size)
        elif min_count or max_vocab_size is not None:
            logger.warning("Vocabulary: min_count/max_vocab_size given without token counts; they have no effect")

    @classmethod
    def check_arguments(cls, arguments: Dict[str, Any]) -> Iterator[ConfigurationError]:
        padding_token, oov_token = arguments.get("padding_token"), arguments.get("oov_token")
        if padding_token is not None and padding_token == oov_token:
            yield ConfigurationError(f'padding_token and oov_token must differ, both are "{padding_token}"',
                                     "oov_token")

    # --- alternative constructors (registered below) -----------------------------------------------
    @classmethod
    def from_instances(cls, instances: Any,
                       min_count: Optional[Dict[str, NonNegativeInt]] = None,
                       max_vocab_size: Optional[Union[NonNegativeInt, Dict[str, NonNegativeInt]]] = None,
                       non_padded_namespaces: Sequence[str] = DEFAULT_NON_PADDED_NAMESPACES,
                       tokens_to_add: Optional[Dict[str, List[str]]] = None,
                       padding_token: str = DEFAULT_PADDING_TOKEN,
                       oov_token: str = DEFAULT_OOV_TOKEN) -> "Vocabulary":
        """Count the tokens of `instances` (passed at run time), then build.

        `instances` is an iterable of `Instance`s, or of collections that count all of theirs with the
        same `count_vocab_items(counter)` (an `InstanceTable`, a `DataLoader`: lmlab's train command
        passes its data loaders). It is annotated `Any` only so that FromParams accepts the signature;
        a config must not set it.
        """
        counter = make_counter()
        count = 0
        for instance in instances:
            instance.count_vocab_items(counter)
            count += 1
        logger.info("Vocabulary: counted the tokens of %d instances or data sets", count)
        return cls(counter=counter, min_count=min_count, max_vocab_size=max_vocab_size,
                   non_padded_namespaces=non_padded_namespaces, tokens_to_add=tokens_to_add,
                   padding_token=padding_token, oov_token=oov_token)

    @classmethod
    def from_files(cls, directory: str, padding_token: str = DEFAULT_PADDING_TOKEN,
                   oov_token: str = DEFAULT_OOV_TOKEN) -> "Vocabulary":
        """Load a vocabulary written by `save_to_files` (see the module docstring for the format).

        A padded namespace file may omit its leading padding/OOV lines (a hand-written token list);
        they are added back. Missing directory -> ConfigurationError; unreadable or inconsistent
        files -> ArchiveError naming the file.
        """
        directory = os.path.expanduser(directory)
        if not os.path.isdir(directory):  # run time: the file system
            raise ConfigurationError(f"vocabulary directory not found: {directory}")
        patterns_path = os.path.join(directory, NON_PADDED_NAMESPACES_FILE)
        if not os.path.isfile(patterns_path):
            raise ArchiveError(f"not a vocabulary directory (no {NON_PADDED_NAMESPACES_FILE}): {directory}")
        vocab = cls(non_padded_namespaces=_read_lines(patterns_path), padding_token=padding_token,
                    oov_token=oov_token)
        for name in sorted(os.listdir(directory)):
            if not name.endswith(".txt") or name in _METADATA_FILES or name.startswith("."):
                continue
            path = os.path.join(directory, name)
            namespace = name[: -len(".txt")]
            tokens = _read_lines(path)
            if vocab.is_padded(namespace):
                specials = [padding_token, oov_token]
                if tokens[:2] == specials:
                    tokens = tokens[2:]
                elif tokens[:1] == [oov_token]:  # a list with only the OOV line on top
                    tokens = tokens[1:]
                misplaced = next((t for t in tokens if t in specials), None)
                if misplaced is not None:
                    raise ArchiveError(f'corrupt vocabulary file {path}: "{misplaced}" must be on line '
                                       f"{specials.index(misplaced) + 1} of a padded namespace")
            seen: set = set()
            for token in tokens:
                if token in seen:
                    raise ArchiveError(f'corrupt vocabulary file {path}: token "{token}" appears twice')
                seen.add(token)
            vocab.add_tokens_to_namespace(tokens, namespace)
        sorted_path = os.path.join(directory, FREQUENCY_SORTED_NAMESPACES_FILE)
        if os.path.isfile(sorted_path):
            vocab._frequency_sorted = set(_read_lines(sorted_path))
        return vocab

    @classmethod
    def from_pretrained_transformer(cls, model_name: str, namespace: str = "tags", instances: Any = None,
                                    non_padded_namespaces: Sequence[str] = DEFAULT_NON_PADDED_NAMESPACES,
                                    tokens_to_add: Optional[Dict[str, List[str]]] = None) -> "Vocabulary":
        """`namespace` holds a pretrained model's tokenizer vocabulary, index i = the model's id i
        (`add_transformer_vocab`); the other namespaces are counted from `instances` (passed at run time, as
        for "from_instances": a tagger's labels, say). Needs `lmlab[transformers]`."""
        from lmlab.common.pretrained_transformers import vocabulary_tokens

        vocab = cls.from_instances(instances or [], non_padded_namespaces=non_padded_namespaces,
                                   tokens_to_add=tokens_to_add)
        vocab.add_transformer_vocab(vocabulary_tokens(model_name), namespace)
        return vocab

    @classmethod
    def empty(cls, non_padded_namespaces: Sequence[str] = DEFAULT_NON_PADDED_NAMESPACES,
              tokens_to_add: Optional[Dict[str, List[str]]] = None,
              padding_token: str = DEFAULT_PADDING_TOKEN, oov_token: str = DEFAULT_OOV_TOKEN) -> "Vocabulary":
        """A vocabulary with no counted tokens (a model that needs none, or one filled by hand)."""
        return cls(non_padded_namespaces=non_padded_namespaces, tokens_to_add=tokens_to_add,
                   padding_token=padding_token, oov_token=oov_token)

    # --- building -----------------------------------------------------------------------------------
    def _add_counts(self, counter: Counter, min_count: Dict[str, int],
                    max_vocab_size: Optional[Union[int, Dict[str, int]]]) -> None:
        for option, values in (("min_count", min_count),
                               ("max_vocab_size", max_vocab_size if isinstance(max_vocab_size, dict) else {})):
            for namespace in values:
                if namespace not in counter:  # run time: the namespaces the data has
                    raise ConfigurationError(
                        f'namespace "{namespace}" has no counted tokens{did_you_mean(namespace, counter)} '
                        f"(namespaces: {', '.join(sorted(counter)) or 'none'})", f"{option}.{namespace}")
        for namespace in sorted(counter):
            counts = counter[namespace]
            threshold = min_count.get(namespace, 1)
            kept = sorted((item for item in counts.items() if item[1] >= threshold),
                          key=lambda item: (-item[1], item[0]))
            limit = max_vocab_size.get(namespace) if isinstance(max_vocab_size, dict) else max_vocab_size
            if limit is not None:
                kept = kept[:limit]
            self._namespace(namespace)  # a namespace with counts exists even when everything was dropped
            self.add_tokens_to_namespace([token for token, _ in kept], namespace)
            self._frequency_sorted.add(namespace)

    def _namespace(self, namespace: str) -> Dict[str, int]:
        """token -> index of `namespace`, creating it (with padding/OOV when padded) if needed."""
        mapping = self._token_to_index.get(namespace)
        if mapping is None:
            tokens = [self.padding_token, self.oov_token] if self.is_padded(namespace) else []
            mapping = {token: index for index, token in enumerate(tokens)}
            self._token_to_index[namespace] = mapping
            self._index_to_token[namespace] = tokens
        return mapping

    @property
    def uid(self) -> str:
        """Identifies this vocabulary and its contents (pickled copies keep it; adding a token changes
        it), so that an instance already indexed with it is not indexed again."""
        return f"{self._uid}-{self._version}"

    def is_padded(self, namespace: str) -> bool:
        """True when `namespace` has padding (index 0) and OOV (index 1) tokens."""
        padded = self._padded_cache.get(namespace)
        if padded is None:
            padded = not any(fnmatch.fnmatchcase(namespace, p) for p in self.non_padded_namespaces)
            self._padded_cache[namespace] = padded
        return padded

    def add_token_to_namespace(self, token: str, namespace: str = "tokens") -> int:
        """Add `token` if it is new; return its index."""
        if not isinstance(token, str):
            raise TypeError(f"vocabulary tokens must be str, got {type(token).__name__} {token!r}")
        mapping = self._namespace(namespace)
        index = mapping.get(token)
        if index is None:
            index = len(mapping)
            mapping[token] = index
            self._index_to_token[namespace].append(token)
            self._version += 1
            self._frequency_sorted.discard(namespace)  # a token of unknown frequency, appended at the end
        return index

    def add_transformer_vocab(self, tokens: Sequence[str], namespace: str) -> None:
        """Make `namespace` exactly `tokens`, token i at index i (a pretrained tokenizer's vocabulary in id
        order), replacing what it held. The namespace becomes non-padded (its name is added to
        `non_padded_namespaces`): index 0 is the tokenizer's token 0, and an unknown token is an error."""
        if len(set(tokens)) != len(tokens):
            raise ValueError(f'a transformer vocabulary for namespace "{namespace}" lists a token twice')
        if self.is_padded(namespace):
            self.non_padded_namespaces.append(namespace)
            self._padded_cache.clear()
        self._token_to_index[namespace] = {token: index for index, token in enumerate(tokens)}
        self._index_to_token[namespace] = list(tokens)
        self._frequency_sorted.discard(namespace)
        self._version += 1

    def add_tokens_to_namespace(self, tokens: Iterable[str], namespace: str = "tokens") -> List[int]:
        return [self.add_token_to_namespace(token, namespace) for token in tokens]

    # --- lookups ------------------------------------------------------------------------------------
    def get_token_index(self, token: str, namespace: str = "tokens") -> int:
        mapping = self._namespace(namespace)
        index = mapping.get(token)
        if index is None:
            if self.is_padded(namespace):
                return 1
            raise self._unknown(token, namespace)
        return index

    def get_token_indices(self, tokens: Sequence[str], namespace: str = "tokens") -> np.ndarray:
        """(N,) int64 indices of N tokens: one dict lookup per token, no Python-level branching."""
        mapping = self._namespace(namespace)
        if self.is_padded(namespace):
            return np.fromiter(map(mapping.get, tokens, repeat(1)), dtype=np.int64, count=len(tokens))
        try:
            return np.fromiter(map(mapping.__getitem__, tokens), dtype=np.int64, count=len(tokens))
        except KeyError as err:
            raise self._unknown(err.args[0], namespace) from None

    def _unknown(self, token: str, namespace: str) -> InputError:
        known = self._token_to_index[namespace]
        return InputError(f'unknown token "{token}" in non-padded vocabulary namespace "{namespace}" '
                          f"({len(known)} tokens){did_you_mean(token, known)}")

    def get_token_from_index(self, index: int, namespace: str = "tokens") -> str:
        tokens = self._index_to_token.get(namespace)
        if tokens is None:
            self._namespace(namespace)
            tokens = self._index_to_token[namespace]
        if not 0 <= index < len(tokens):
            raise InputError(f'index {index} is out of range for vocabulary namespace "{namespace}" '
                             f"(size {len(tokens)})")
        return tokens[index]

    def is_frequency_sorted(self, namespace: str = "tokens") -> bool:
        """True when the tokens of `namespace` after padding/OOV and `tokens_to_add` are known to be in
        decreasing order of count (the namespace was built from counts and not extended since)."""
        return namespace in self._frequency_sorted

    def get_vocab_size(self, namespace: str = "tokens") -> int:
        return len(self._namespace(namespace))

    def get_token_to_index_vocabulary(self, namespace: str = "tokens") -> Dict[str, int]:
        """A copy of token -> index."""
        return dict(self._namespace(namespace))

    def get_index_to_token_vocabulary(self, namespace: str = "tokens") -> Dict[int, str]:
        """A copy of index -> token."""
        self._namespace(namespace)
        return dict(enumerate(self._index_to_token[namespace]))

    def get_namespaces(self) -> List[str]:
        """Names of the namespaces that exist, sorted."""
        return sorted(self._token_to_index)

    # --- files --------------------------------------------------------------------------------------
    def save_to_files(self, directory: str) -> None:
        """Write one file per namespace plus the non-padded patterns; each file is written atomically."""
        os.makedirs(directory, exist_ok=True)
        for namespace in self._token_to_index:
            if namespace + ".txt" in _METADATA_FILES or os.sep in namespace or "/" in namespace \
                    or namespace.startswith(".") or not namespace:  # run time: the namespaces the data has
                raise ConfigurationError(f'vocabulary namespace "{namespace}" cannot be saved as a file name')
        _write_lines(os.path.join(directory, NON_PADDED_NAMESPACES_FILE), self.non_padded_namespaces)
        _write_lines(os.path.join(directory, FREQUENCY_SORTED_NAMESPACES_FILE),
                     sorted(self._frequency_sorted & set(self._index_to_token)))
        for namespace in sorted(self._index_to_token):
            _write_lines(os.path.join(directory, namespace + ".txt"), self._index_to_token[namespace])

    # --- comparison and display -----------------------------------------------------------------------
    def _contents(self) -> Dict[str, List[str]]:
        contents = {}
        for namespace, tokens in self._index_to_token.items():
            specials = 2 if self.is_padded(namespace) else 0
            if len(tokens) > specials:
                contents[namespace] = tokens
        return contents

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocabulary):
            return NotImplemented
        return ((self.padding_token, self.oov_token, self.non_padded_namespaces, self._contents())
                == (other.padding_token, other.oov_token, other.non_padded_namespaces, other._contents()))

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        parts = [f"{namespace}: {len(self._index_to_token[namespace])}"
                 + ("" if self.is_padded(namespace) else " (non-padded)")
                 for namespace in sorted(self._index_to_token)]
        return f"Vocabulary({', '.join(parts)})"


Vocabulary.register("from_instances", constructor="from_instances")(Vocabulary)
Vocabulary.register("from_files", constructor="from_files")(Vocabulary)
Vocabulary.register("empty", constructor="empty")(Vocabulary)
Vocabulary.register("from_pretrained_transformer", constructor="from_pretrained_transformer")(Vocabulary)


# ---------------------------------------------------------------------------------------------------
# Token files

_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r"}
_UNESCAPES = {"\\": "\\", "n": "\n", "r": "\r"}
_ESCAPE_RE = re.compile(r"[\\\n\r]")
_UNESCAPE_RE = re.compile(r"\\([\\nr])")


def _escape(token: str) -> str:
    return _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group(0)], token)


def _unescape(line: str) -> str:
    return _UNESCAPE_RE.sub(lambda m: _UNESCAPES[m.group(1)], line) if "\\" in line else line


def _write_lines(path: str, tokens: List[str]) -> None:
    with atomic_write(path, newline="") as file:
        file.write("".join(_escape(token) + "\n" for token in tokens))


def _read_lines(path: str) -> List[str]:
    """Tokens of a file written by `_write_lines`: split on "\\n" only (no other line breaks)."""
    try:
        with open(path, encoding="utf-8", newline="") as file:
            text = file.read()
    except UnicodeDecodeError as err:
        raise ArchiveError(f"corrupt vocabulary file {path}: not valid UTF-8 at byte {err.start}") from err
    except OSError as err:
        raise ArchiveError(f"cannot read vocabulary file {path}: {err.strerror}") from err
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the newline that ends the last token
    return [_unescape(line[:-1] if line.endswith("\r") else line) for line in lines]
