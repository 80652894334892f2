"""A corpus as one token stream cut into BPTT windows (PyTorch word_language_model layout)."""
import logging
from array import array
from typing import Dict, Iterable, Iterator, List, Optional, Tuple, Union

import numpy as np

from lmlab.common.errors import ConfigurationError
from lmlab.data.dataset_readers.dataset_reader import (
    WHITESPACE_TOKENIZER,
    DatasetReader,
    TokenFraming,
    chunked,
    iter_lines,
)
from lmlab.data.fields.field import Field
from lmlab.data.fields.text_field import TextField
from lmlab.data.instance import Instance
from lmlab.data.token_indexers.single_id import SingleIdTokenIndexer
from lmlab.data.token_indexers.token_indexer import TokenIndexer
from lmlab.data.tokenizers.tokenizer import Tokenizer

logger = logging.getLogger(__name__)

_LINES_PER_BATCH = 1000  # lines tokenized together


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
        max_instances: Optional[int] = None
        reverse: bool = False   read the stream backwards (last token first), for a backward LM: a
            forward LM trained on it predicts each token from the tokens that follow it.
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
    Notes
        num_streams = None (sequential): each file is its own stream s (windows never cross files),
        read line by line in constant memory; shard files are divided among data-loader workers.

        num_streams = B ("batchify", PyTorch's word_language_model): all files, in name order, form
        one stream of N tokens; it is cut to B * (N // B) tokens and split into B equal streams
        s_j = stream[j*n : (j+1)*n], n = N // B (the columns of `batchify`). Windows are yielded in
        the order (window 0 of s_0, ..., window 0 of s_{B-1}, window 1 of s_0, ...), so consecutive
        groups of B instances are exactly `get_batch(i)` for i = 0, L, 2L, ...: a loader with
        batch_size B and no shuffling reproduces the benchmark batches, and row j of consecutive
        batches continues stream j (carry the hidden state). Each s_j's last token is only a
        target. This mode holds the stream in memory, as int32 ids (4 bytes a token) plus one copy of
        each distinct token string; workers shard in chunks of B instances, so the batches still come
        out whole and in order with num_workers > 0, but every worker reads the whole corpus.

        reverse: the stream s above is replaced by s reversed, token by token (the lines in reverse order,
        each read backwards after its own end-of-line token), before it is cut into windows or streams.
        Sequential mode then holds one file's tokens in memory at a time.
    """

    def __init__(self, tokenizer: Tokenizer = WHITESPACE_TOKENIZER,
                 token_indexers: Optional[Dict[str, TokenIndexer]] = None, bptt: int = 35,
                 num_streams: Optional[int] = None, end_of_line_token: Optional[str] = "<eos>",
                 max_instances: Optional[int] = None, reverse: bool = False) -> None:
        super().__init__(max_instances=max_instances)
        if bptt < 1:
            raise ConfigurationError(f"expected an int >= 1, found {bptt}", "bptt")
        if num_streams is not None and num_streams < 1:
            raise ConfigurationError(f"expected an int >= 1 or null, found {num_streams}", "num_streams")
        self.tokenizer = tokenizer
        self.token_indexers: Dict[str, TokenIndexer] = token_indexers or {"tokens": SingleIdTokenIndexer()}
        self.bptt = bptt
        self.num_streams = num_streams
        self.reverse = reverse
        end_of_line = () if end_of_line_token is None else (end_of_line_token,)
        self.framing = TokenFraming(start_tokens=end_of_line, reverse=True) if reverse \
            else TokenFraming(end_tokens=end_of_line)

    @property
    def shard_chunk_size(self) -> int:
        return self.num_streams or 1

    @property
    def can_shard_by_file(self) -> bool:
        return self.num_streams is None  # batchify needs the whole stream

    # --- reading --------------------------------------------------------------------------------------
    def _line_tokens(self, file_path: str) -> Iterator[List[str]]:
        """Every line of the file as the model reads it (framed), in file order."""
        for lines in chunked(iter_lines(file_path), _LINES_PER_BATCH):
            for tokens in self.tokenizer.batch_tokenize(lines):
                yield self.framing.frame(tokens)

    def _read(self, file_path: str) -> Iterator[Instance]:
        if self.num_streams is None:
            lines: Iterable[List[str]] = self._line_tokens(file_path)
            if self.reverse:  # each line is already read backwards: put the last line first
                lines = reversed(list(lines))
            return self._sequential_windows(lines)
        return self._batchified_windows([file_path])

    def _read_files(self, file_paths: List[str]) -> Iterable[Instance]:
        if self.num_streams is None:
            return super()._read_files(file_paths)
        return self._batchified_windows(file_paths)

    def _sequential_windows(self, lines: Iterable[List[str]]) -> Iterator[Instance]:
        length = self.bptt
        buffer: List[str] = []  # the unread rest of the stream: fewer than L + 1 + one line's tokens
        for tokens in lines:
            buffer.extend(tokens)
            start = 0
            while len(buffer) - start > length:  # a full window needs L + 1 tokens
                yield self.text_to_instance(buffer[start:start + length], buffer[start + 1:start + length + 1])
                start += length
            del buffer[:start]
        if len(buffer) > 1:
            yield self.text_to_instance(buffer[:-1], buffer[1:])

    def _batchified_windows(self, file_paths: List[str]) -> Iterator[Instance]:
        ids, words = self._encode_stream(file_paths)
        streams, length = self.num_streams or 1, self.bptt
        per_stream = len(ids) // streams
        if per_stream < 2:
            logger.warning("%s: %d tokens cannot fill %d streams of at least 2 tokens; no instances",
                           ", ".join(file_paths), len(ids), streams)
            return
        columns = ids[: per_stream * streams].reshape(streams, per_stream)  # (B, n): row j is stream j
        for i in range(0, per_stream - 1, length):
            size = min(length, per_stream - 1 - i)
            window = words[columns[:, i:i + size + 1]].tolist()  # (B, size + 1) token strings
            for row in window:
                yield self.text_to_instance(row[:-1], row[1:])

    def _encode_stream(self, file_paths: List[str]) -> Tuple[np.ndarray, np.ndarray]:
        """(stream as int32 ids, id -> token object array) for the concatenation of the files (with
        `reverse`, of their lines in reverse order)."""
        index: Dict[str, int] = {}
        assign = index.setdefault
        ids = array("i")
        starts = []  # where each line begins in `ids`
        for path in file_paths:
            for tokens in self._line_tokens(path):
                starts.append(len(ids))
                ids.extend([assign(token, len(index)) for token in tokens])
        words = np.empty(len(index), dtype=object)
        words[:] = list(index)
        stream = np.frombuffer(ids, dtype=np.int32) if len(ids) else np.zeros(0, dtype=np.int32)
        if self.reverse:  # each line is already read backwards: put the last line first
            stream = np.concatenate(np.split(stream, starts[1:])[::-1]) if len(stream) else stream
        return stream, words

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
