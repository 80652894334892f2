"""A corpus as one token stream cut into BPTT windows (PyTorch word_language_model layout)."""
import json
import logging
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from lmlab.common.constraints import PositiveInt
from lmlab.data.dataset_readers.dataset_reader import (
    WHITESPACE_TOKENIZER,
    DatasetReader,
    TokenFraming,
    chunked,
    iter_lines,
    resolve_data_paths,
)
from lmlab.data.fields.field import Field
from lmlab.data.fields.text_field import TextField
from lmlab.data.instance import Instance
from lmlab.data.instance_table import InstanceTable
from lmlab.data.token_indexers.single_id import SingleIdTokenIndexer
from lmlab.data.token_indexers.token_indexer import TokenIndexer
from lmlab.data.token_stream import TokenStream, TokenStreamCache, concatenate, encode
from lmlab.data.tokenizers.tokenizer import Tokenizer
from lmlab.data.vocabulary import Counter, Vocabulary

logger = logging.getLogger(__name__)

_LINES_PER_BATCH = 1000  # lines tokenized together
_WINDOWS_PER_BLOCK = 1024  # windows turned into instances together
_COUNT_CHUNK = 1 << 20  # ids counted at a time (np.bincount copies its input to int64)


@DatasetReader.register("contiguous_language_modeling")
class ContiguousLanguageModelingReader(DatasetReader):
    """Cuts a token stream into windows of `bptt` tokens, each with its next-token targets.

    Registered as a `DatasetReader` with name "contiguous_language_modeling".

    Parameters
        tokenizer: Tokenizer = WhitespaceTokenizer()   applied to each line.
        token_indexers: Optional[Dict[str, TokenIndexer]] = None   default {"tokens": single_id}; used
            by both fields.
        bptt: int = 35    L, tokens per window.
        num_streams: Optional[int] = None   B; see the two modes below.
        end_of_line_token: Optional[str] = "<eos>"   appended after every line, empty lines included,
            as PyTorch's word_language_model does for WikiText; null appends nothing.
        max_instances: Optional[PositiveInt] = None
        reverse: bool = False   read the stream backwards (last token first), for a backward LM: a
            forward LM trained on it predicts each token from the tokens that follow it.
        cache_directory: Optional[str] = None   where tokenised files are cached as id arrays
            (`TokenStreamCache`); None: `token_streams/` in `$LMLAB_CACHE` (default `~/.cache/lmlab`).
    Attributes
        framing: how one line is read, `end_of_line_token` included: the line then the token, or with
            `reverse` the token then the line backwards. Predictors frame a sentence the same way (so a
            backward LM's next tokens are the words before the sentence).
    Inputs
        Text files, UTF-8; each line is tokenized and followed by `end_of_line_token`.
    Outputs
        Instances {"source": TextField(s[i : i+l]), "forward_targets": TextField(s[i+1 : i+l+1])} for
        a stream s, with l = min(L, len(s) - 1 - i) for i = 0, L, 2L, ... while l >= 1: every window
        has L tokens except possibly the last, and the stream's last token is only a target.
        `read_all` gives them as a `StreamWindows` table, which builds each batch by slicing the id
        stream (when every token indexer `indexes_tokens_independently`, as "single_id" does).
    Notes
        num_streams = None (sequential): each file is its own stream s (windows never cross files);
        shard files are divided among data-loader workers.

        num_streams = B ("batchify", PyTorch's word_language_model): all files, in name order, form
        one stream of N tokens; it is cut to B * (N // B) tokens and split into B equal streams
        s_j = stream[j*n : (j+1)*n], n = N // B (the columns of `batchify`). Windows are yielded in
        the order (window 0 of s_0, ..., window 0 of s_{B-1}, window 1 of s_0, ...), so consecutive
        groups of B instances are exactly `get_batch(i)` for i = 0, L, 2L, ...: a loader with
        batch_size B and no shuffling reproduces the benchmark batches, and row j of consecutive
        batches continues stream j (carry the hidden state). Each s_j's last token is only a
        target. Workers shard in chunks of B instances, so the batches still come out whole and in
        order with num_workers > 0, but every worker reads the whole stream.

        reverse: the stream s above is replaced by s reversed, token by token (the lines in reverse order,
        each read backwards after its own end-of-line token), before it is cut into windows or streams.

        Memory: a file is tokenised once into int32 ids and its distinct words, cached on disk and
        memory-mapped from there on later reads (4 bytes a token; reversing is a view). Several files
        read as one stream (batchify) are joined into one in-memory array. The cache entry of a file
        is keyed by its real path, the tokenizer's `repr` and `end_of_line_token`, and rebuilt when
        the file's size or modification time changes.
    Example
        >>> import pathlib, tempfile
        >>> from lmlab.data.dataset_readers import DatasetReader
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "train.txt"
        >>> _ = path.write_text("the cat sat on the mat")
        >>> reader = DatasetReader.from_params({"type": "contiguous_language_modeling", "bptt": 3,
        ...                                     "num_streams": 1})
        >>> for window in reader.read(str(path)):
        ...     print([str(t) for t in window["source"].tokens], [str(t) for t in window["forward_targets"].tokens])
        ['the', 'cat', 'sat'] ['cat', 'sat', 'on']
        ['on', 'the', 'mat'] ['the', 'mat', '<eos>']
    """

    def __init__(self, tokenizer: Tokenizer = WHITESPACE_TOKENIZER,
                 token_indexers: Optional[Dict[str, TokenIndexer]] = None, bptt: PositiveInt = 35,
                 num_streams: Optional[PositiveInt] = None, end_of_line_token: Optional[str] = "<eos>",
                 max_instances: Optional[PositiveInt] = None, reverse: bool = False,
                 cache_directory: Optional[str] = None) -> None:
        super().__init__(max_instances=max_instances)
        self.tokenizer = tokenizer
        self.token_indexers: Dict[str, TokenIndexer] = token_indexers or {"tokens": SingleIdTokenIndexer()}
        self.bptt = bptt
        self.num_streams = num_streams
        self.reverse = reverse
        end_of_line = () if end_of_line_token is None else (end_of_line_token,)
        self.framing = TokenFraming(start_tokens=end_of_line, reverse=True) if reverse \
            else TokenFraming(end_tokens=end_of_line)
        # the stream is always tokenised forwards (and cached so): read backwards, it is the reverse framing's
        self._forward_framing = TokenFraming(end_tokens=end_of_line)
        self.cache = TokenStreamCache(cache_directory)
        self._cache_settings = json.dumps({"tokenizer": repr(tokenizer), "end_of_line_token": end_of_line_token})

    @property
    def shard_chunk_size(self) -> int:
        return self.num_streams or 1

    @property
    def can_shard_by_file(self) -> bool:
        return self.num_streams is None  # batchify needs the whole stream

    # --- reading --------------------------------------------------------------------------------------
    def read_all(self, file_path: str) -> InstanceTable:
        if not all(indexer.indexes_tokens_independently for indexer in self.token_indexers.values()):
            return super().read_all(file_path)  # an Instance per window
        return self._windows(resolve_data_paths(file_path), self.max_instances)

    def _read(self, file_path: str) -> Iterator[Instance]:
        return iter(self._windows([file_path]))

    def _read_files(self, file_paths: List[str]) -> Iterable[Instance]:
        if self.num_streams is None:
            return super()._read_files(file_paths)  # one file after another, each its own stream
        return iter(self._windows(file_paths))

    def _lines(self, file_path: str) -> Iterator[List[str]]:
        """Every line of the file read forwards, end-of-line token included, in file order."""
        for lines in chunked(iter_lines(file_path), _LINES_PER_BATCH):
            for tokens in self.tokenizer.batch_tokenize(lines):
                yield self._forward_framing.frame(tokens)

    def _tokenised(self, file_path: str) -> TokenStream:
        """The file's tokens read forwards, from the cache, or tokenised now (and cached)."""
        return self.cache.fetch(file_path, self._cache_settings, lambda: encode(self._lines(file_path)))

    def _windows(self, file_paths: List[str], max_instances: Optional[PositiveInt] = None) -> "StreamWindows":
        """The windows of the files (the first `max_instances` of them), laid out as the class docstring says."""
        files = [self._tokenised(path) for path in file_paths]
        ids, words = concatenate(files)
        if self.reverse:  # token by token backwards: the last file first, each of its lines backwards
            ids = ids[::-1]
        if self.num_streams is None:  # every file its own stream, one after another
            lengths = np.array([len(file.ids) for file in files], dtype=np.int64)  # (F,)
            ends = np.cumsum(lengths)  # (F,) in the forward stream
            starts = len(ids) - ends if self.reverse else ends - lengths
            return StreamWindows(ids, words, starts, lengths, self.bptt, interleaved=False,
                                 max_instances=max_instances, token_indexers=self.token_indexers,
                                 text_to_instance=self.text_to_instance)
        streams = self.num_streams
        per_stream = len(ids) // streams
        if per_stream < 2:
            logger.warning("%s: %d tokens cannot fill %d streams of at least 2 tokens; no instances",
                           ", ".join(file_paths), len(ids), streams)
        return StreamWindows(ids, words, np.arange(streams, dtype=np.int64) * per_stream,
                             np.full(streams, per_stream, dtype=np.int64), self.bptt, interleaved=True,
                             max_instances=max_instances, token_indexers=self.token_indexers,
                             text_to_instance=self.text_to_instance)

    def text_to_instance(self, source: Union[str, List[str]], targets: Optional[List[str]] = None) -> Instance:
        """Instance for one window: `source` tokens (or a text to tokenize) and optional `targets`.

        Without `targets` (prediction) the instance has only "source".
        """
        tokens = self.tokenizer.tokenize(source) if isinstance(source, str) else source
        fields: Dict[str, Field] = {"source": TextField(tokens, self.token_indexers)}
        if targets is not None:
            if len(targets) != len(tokens):
                raise ValueError(f"targets ({len(targets)} tokens) must be as long as source ({len(tokens)} tokens)")
            fields["forward_targets"] = TextField(targets, self.token_indexers)
        return Instance(fields)


class StreamWindows(InstanceTable):
    """The windows of a contiguous reader as a table over one id stream: a batch is a slice of it.

    Parameters
        ids: (N,) int array; token t of the stream is `words[ids[t]]` (a memory map, or a view of one).
        words: List[str]   the W distinct tokens.
        starts, lengths: (S,) int64   stream s is `ids[starts[s] : starts[s] + lengths[s]]`.
        bptt: int   L.
        interleaved: bool   True: window 0 of every stream, then window 1 of every stream, ... (batchify:
            the streams are equally long); False: every window of stream 0, then of stream 1, ...
        max_instances: Optional[int]   keep only the first this many windows.
        token_indexers: Dict[str, TokenIndexer]   each `indexes_tokens_independently`.
        text_to_instance: (source tokens, target tokens) -> Instance, for iterating.
    Outputs
        `batch(indices)`: {"source": {indexer: {key: int64 (B, T)}}, "forward_targets": the same}, T the
        longest window of the batch, 0 after a shorter one's end: what `Batch` makes of the windows'
        instances. Per batch, one gather of B * (T + 1) ids and one lookup per indexer.
    Notes
        Counting the vocabulary is one `np.bincount` pass over the ids, then one call of each indexer's
        `count_vocab_items` per distinct word; indexing is one `tokens_to_indices` over the W words.
    """

    def __init__(self, ids: np.ndarray, words: List[str], starts: np.ndarray, lengths: np.ndarray, bptt: int,
                 interleaved: bool, max_instances: Optional[int], token_indexers: Dict[str, TokenIndexer],
                 text_to_instance: Callable[[List[str], List[str]], Instance]) -> None:
        self.ids, self.words, self.starts, self.lengths = ids, words, starts, lengths
        self.bptt, self.interleaved = bptt, interleaved
        self.token_indexers, self.text_to_instance = token_indexers, text_to_instance
        self._window_counts = np.maximum((lengths + bptt - 2) // bptt, 0)  # (S,) ceil((n - 1) / L) windows per stream
        self._first = np.cumsum(self._window_counts) - self._window_counts  # (S,) sequential order: s's first window
        total = int(self._window_counts.sum())
        self._size = total if max_instances is None else min(total, max_instances)
        self._lookups: Optional[Dict[str, Dict[str, np.ndarray]]] = None  # indexer -> key -> (W,) ids

    def __len__(self) -> int:
        return self._size

    def _locate(self, indices: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
        """(B,) int64 each: where in `ids` each window's source starts, and its length l (its targets are
        the l tokens after that start)."""
        index = np.asarray(indices, dtype=np.int64)  # (B,)
        if self.interleaved:
            stream, window = index % len(self.starts), index // len(self.starts)
        else:
            stream = np.searchsorted(self._first, index, side="right") - 1  # the last stream starting at or before
            window = index - self._first[stream]
        offset = window * self.bptt
        return self.starts[stream] + offset, np.minimum(self.bptt, self.lengths[stream] - 1 - offset)

    def _gather(self, indices: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
        """(B, T + 1) ids of each window's tokens (its source, then its last target) and the (B, T) mask
        of real positions; T is the longest window."""
        start, size = self._locate(indices)
        longest = int(size.max())
        positions = start[:, None] + np.arange(longest + 1)  # (B, T + 1)
        # past a shorter window's end, any token of the stream will do: the mask hides it
        tokens = self.ids[np.minimum(positions, len(self.ids) - 1)]  # (B, T + 1)
        return tokens, np.arange(longest) < size[:, None]

    def num_tokens(self, indices: Sequence[int]) -> List[int]:
        return self._locate(indices)[1].tolist()

    def __iter__(self) -> Iterator[Instance]:
        words = np.empty(len(self.words), dtype=object)
        words[:] = self.words
        for begin in range(0, len(self), _WINDOWS_PER_BLOCK):
            tokens, mask = self._gather(range(begin, min(begin + _WINDOWS_PER_BLOCK, len(self))))
            for row, size in zip(words[tokens].tolist(), mask.sum(1).tolist(), strict=True):
                yield self.text_to_instance(row[:size], row[1:size + 1])

    def count_vocab_items(self, counter: Counter) -> None:
        counts = self._token_counts()  # (W,)
        present = np.flatnonzero(counts)
        for indexer in self.token_indexers.values():
            for word, count in zip([self.words[i] for i in present], counts[present].tolist(), strict=True):
                items: Counter = {}
                indexer.count_vocab_items([word], items)  # a word's items, counted once per occurrence
                for namespace, found in items.items():
                    total = counter.setdefault(namespace, {})
                    for item, times in found.items():
                        total[item] = total.get(item, 0) + times * count

    def _token_counts(self) -> np.ndarray:
        """(W,) int64: how often each word is a source or a target token of the table's windows."""
        streams = len(self.starts)
        if self.interleaved:  # windows of stream s among the first `size`: those numbered s, s + S, ...
            taken = self._size // streams + (np.arange(streams) < self._size % streams)
        else:
            taken = np.clip(self._size - self._first, 0, self._window_counts)
        ends = np.minimum(taken * self.bptt, self.lengths - 1)  # (S,) the sources of stream s end there
        counts = np.zeros(len(self.words), dtype=np.int64)
        for stream in np.flatnonzero(taken).tolist():
            covered = self.ids[self.starts[stream]:self.starts[stream] + ends[stream] + 1]  # sources + last target
            for begin in range(0, len(covered), _COUNT_CHUNK):
                counts += 2 * np.bincount(covered[begin:begin + _COUNT_CHUNK], minlength=len(self.words))
            counts[covered[0]] -= 1  # only a source
            counts[covered[-1]] -= 1  # only a target
        return counts

    def index_with(self, vocab: Vocabulary) -> None:
        self._lookups = {name: indexer.tokens_to_indices(self.words, vocab)
                         for name, indexer in self.token_indexers.items()}

    def batch(self, indices: Sequence[int]) -> Dict[str, Any]:
        import torch

        if self._lookups is None:
            raise RuntimeError("call index_with(vocab) before batching")
        tokens, mask = self._gather(indices)  # (B, T + 1), (B, T)
        return {field: {name: {key: torch.from_numpy(np.where(mask, lookup[window], 0))
                               for key, lookup in arrays.items()}
                        for name, arrays in self._lookups.items()}
                for field, window in (("source", tokens[:, :-1]), ("forward_targets", tokens[:, 1:]))}
