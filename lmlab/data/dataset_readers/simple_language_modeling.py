"""One sentence per line, for sentence-level language models."""
from typing import Any, Dict, Iterator, List, Optional

from overrides import overrides

from lmlab.common.constraints import PositiveInt
from lmlab.common.errors import ConfigurationError
from lmlab.data.dataset_readers.dataset_reader import (
    WHITESPACE_TOKENIZER,
    DatasetReader,
    TokenFraming,
    chunked,
    iter_lines,
)
from lmlab.data.fields.text_field import TextField
from lmlab.data.instance import Instance
from lmlab.data.token_indexers.single_id import SingleIdTokenIndexer
from lmlab.data.token_indexers.token_indexer import TokenIndexer
from lmlab.data.tokenizers.tokenizer import Tokenizer

_LINES_PER_BATCH = 1000  # lines tokenized together (spaCy's nlp.pipe is faster on batches)


@DatasetReader.register("simple_language_modeling")
class SimpleLanguageModelingDatasetReader(DatasetReader):
    """Reads one sentence per line into a "source" TextField (the model shifts it to get targets).

    Registered as a `DatasetReader` with name "simple_language_modeling".

    Parameters
        tokenizer: Tokenizer = WhitespaceTokenizer()
        token_indexers: Optional[Dict[str, TokenIndexer]] = None   default {"tokens": single_id}.
        max_sequence_length: Optional[int] = None   longest instance, start/end tokens included: a
            longer sentence is cut to max_sequence_length - len(start_tokens) - len(end_tokens)
            tokens before they are added.
        start_tokens: Optional[List[str]] = None    put before every sentence (e.g. ["<S>"]).
        end_tokens: Optional[List[str]] = None      put after every sentence (e.g. ["</S>"]).
        max_instances: Optional[PositiveInt] = None
    Inputs
        Text files, UTF-8, one sentence per line; blank lines (and lines with no tokens) are skipped.
    Outputs
        Instances {"source": TextField(start_tokens + sentence tokens + end_tokens)}, framed by
        `self.framing` (which predictors use to frame their input the same way).
    Example
        >>> from lmlab.data.dataset_readers import DatasetReader
        >>> reader = DatasetReader.from_params({"type": "simple_language_modeling",
        ...                                     "start_tokens": ["<s>"], "end_tokens": ["</s>"]})
        >>> [str(token) for token in reader.text_to_instance("the cat sat")["source"].tokens]
        ['<s>', 'the', 'cat', 'sat', '</s>']
    """

    def __init__(self, tokenizer: Tokenizer = WHITESPACE_TOKENIZER,
                 token_indexers: Optional[Dict[str, TokenIndexer]] = None,
                 max_sequence_length: Optional[PositiveInt] = None, start_tokens: Optional[List[str]] = None,
                 end_tokens: Optional[List[str]] = None, max_instances: Optional[PositiveInt] = None) -> None:
        super().__init__(max_instances=max_instances)
        self.tokenizer = tokenizer
        self.token_indexers = token_indexers or {"tokens": SingleIdTokenIndexer()}
        self.framing = TokenFraming(tuple(start_tokens or ()), tuple(end_tokens or ()), max_sequence_length)

    @classmethod
    def check_arguments(cls, arguments: Dict[str, Any]) -> Iterator[ConfigurationError]:
        added = len(arguments.get("start_tokens") or ()) + len(arguments.get("end_tokens") or ())
        length = arguments.get("max_sequence_length")
        if length is not None and length <= added:
            yield ConfigurationError(f"expected more than {added} (the number of start and end tokens), "
                                     f"found {length}", "max_sequence_length")

    @overrides
    def _read(self, file_path: str) -> Iterator[Instance]:
        sentences = (line.strip() for line in iter_lines(file_path))
        for batch in chunked((sentence for sentence in sentences if sentence), _LINES_PER_BATCH):
            for tokens in self.tokenizer.batch_tokenize(batch):
                if tokens:
                    yield self._make_instance(tokens)

    @overrides(check_signature=False)  # the base takes whatever one example is made of
    def text_to_instance(self, sentence: str) -> Instance:
        """Instance for one sentence (tokenized, truncated and framed exactly as in `_read`)."""
        return self._make_instance(self.tokenizer.tokenize(sentence))

    def _make_instance(self, tokens: List[str]) -> Instance:
        return Instance({"source": TextField(self.framing.frame(tokens), self.token_indexers)})
