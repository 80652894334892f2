"""CoNLL column files (one token per line, blank lines between sentences) for sequence labelling."""
import os
import random
import re
from typing import Any, Dict, Iterator, List, Literal, Optional, Set, Tuple

from lmlab.common.constraints import PositiveInt
from lmlab.common.errors import ConfigurationError, InputError
from lmlab.common.from_params import FromParams
from lmlab.data.dataset_readers.dataset_reader import DatasetReader, iter_lines
from lmlab.data.fields.field import Field
from lmlab.data.fields.metadata_field import MetadataField
from lmlab.data.fields.sequence_label_field import SequenceLabelField
from lmlab.data.fields.text_field import TextField
from lmlab.data.instance import Instance
from lmlab.data.label_codings import LabelCoding, check_coding, convert, parse_label
from lmlab.data.token_indexers.single_id import SingleIdTokenIndexer
from lmlab.data.token_indexers.token_indexer import TokenIndexer
from lmlab.data.tokenizers.tokenizer import Tokenizer
from lmlab.data.tokenizers.whitespace import WhitespaceTokenizer

DOCUMENT_START = "-DOCSTART-"

COLUMN_SEPARATOR = re.compile("[ \t]+")
"""Columns are separated by spaces and tabs only: a non-breaking or other Unicode space is part of a token."""

Row = Tuple[int, List[str]]
"""(line number, columns) of one token line."""


class DevSplit(FromParams):
    """A fixed, seeded choice of sentences of one file held out as development data.

    Parameters
        source: str          the file to split (e.g. CoNLL-2000's train.txt); other files are read whole.
        sentences: int       how many of its sentences form the development part.
        part: "train" or "dev"   which part a reader with this split yields from `source`.
        seed: int = 13       `random.Random(seed).sample` picks the development sentences by position,
                             so the same file, size and seed always give the same split.
    """

    def __init__(self, source: str, sentences: PositiveInt, part: Literal["train", "dev"], seed: int = 13) -> None:
        self.source, self.sentences, self.part, self.seed = source, sentences, part, seed

    def applies_to(self, file_path: str) -> bool:
        if not os.path.exists(self.source):  # reading the whole file would leak the development part
            raise InputError(f"the file to split, {self.source}, does not exist", "dev_split.source")
        return os.path.samefile(file_path, self.source)

    def development_positions(self, total: int, file_path: str) -> Set[int]:
        if self.sentences >= total:
            raise InputError(f"cannot hold out {self.sentences} sentences for development: the file has only "
                             f"{total}", file_path)
        return set(random.Random(self.seed).sample(range(total), self.sentences))


@DatasetReader.register("conll")
class ConllDatasetReader(DatasetReader):
    """Reads space- or tab-separated columns, one token per line, a blank line after each sentence.

    Registered as a `DatasetReader` with name "conll".

    Parameters
        token_indexers: Optional[Dict[str, TokenIndexer]] = None   default {"tokens": single_id}.
        token_column: int = 0            column of the word.
        label_column: Optional[int] = -1 column of the label (CoNLL-2000 chunks: 2 or -1; CoNLL-2003 NER:
                                         3 or -1, chunks 2); None: unlabelled data (no "tags" field).
        num_columns: Optional[int] = None   every token line must have this many columns; None: as many as
                                         the first token line of each file.
        coding_scheme: "IOB1", "BIO" (= "IOB2") or "BIOES" = "BIO"   how the file's labels are coded;
                                         a label that is not valid in it is an error.
        convert_to_coding_scheme: Optional[...] = None   rewrite the labels in this coding (through their
                                         chunks, as `conlleval` reads them); None keeps them.
        label_namespace: str = "labels"
        dev_split: Optional[DevSplit] = None   hold out a fixed, seeded set of sentences of one file:
                                         this reader yields its `part` of that file (see `DevSplit`).
        tokenizer: Optional[Tokenizer] = None   splits raw sentences given to a predictor (default: on
                                         whitespace); files are already one token per line.
        max_instances: Optional[PositiveInt] = None
    Inputs
        UTF-8 files with LF or CRLF line ends; columns are separated by spaces and tabs only (any other
        whitespace, such as a non-breaking space, stays inside its token), and a carriage return anywhere
        but in a CRLF line end (a file with old Mac CR line ends, say) is an `InputError` naming `file:line`.
        A line whose first column is "-DOCSTART-" (CoNLL-2003) separates documents and is
        skipped, as are extra blank lines. A token line with the wrong number of columns, or a label
        not valid in `coding_scheme`, is an `InputError` naming `file:line`.
    Outputs
        Instances {"tokens": TextField(words), "tags": SequenceLabelField(labels) (when labelled),
        "metadata": MetadataField({"words": words})}.
    Example
        >>> from lmlab.data.dataset_readers import DatasetReader
        >>> reader = DatasetReader.from_params({"type": "conll", "num_columns": 2, "coding_scheme": "BIO"})
        >>> instance = reader.text_to_instance(["He", "ran", "home"], ["B-NP", "B-VP", "B-NP"])
        >>> [str(token) for token in instance["tokens"].tokens], instance["tags"].labels
        (['He', 'ran', 'home'], ['B-NP', 'B-VP', 'B-NP'])
    """

    def __init__(self, token_indexers: Optional[Dict[str, TokenIndexer]] = None, token_column: int = 0,
                 label_column: Optional[int] = -1, num_columns: Optional[PositiveInt] = None,
                 coding_scheme: LabelCoding = "BIO", convert_to_coding_scheme: Optional[LabelCoding] = None,
                 label_namespace: str = "labels", dev_split: Optional[DevSplit] = None,
                 tokenizer: Optional[Tokenizer] = None, max_instances: Optional[PositiveInt] = None) -> None:
        super().__init__(max_instances=max_instances)
        self.token_indexers: Dict[str, TokenIndexer] = token_indexers or {"tokens": SingleIdTokenIndexer()}
        self.token_column, self.label_column, self.num_columns = token_column, label_column, num_columns
        self.coding_scheme = check_coding(coding_scheme)
        self.convert_to_coding_scheme = check_coding(convert_to_coding_scheme) if convert_to_coding_scheme else None
        self.label_namespace = label_namespace
        self.dev_split = dev_split
        self.tokenizer = tokenizer or WhitespaceTokenizer()

    @classmethod
    def check_arguments(cls, arguments: Dict[str, Any]) -> Iterator[ConfigurationError]:
        num_columns = arguments.get("num_columns")
        if num_columns is not None:
            for name in ("token_column", "label_column"):
                column = arguments.get(name)
                if column is not None and not -num_columns <= column < num_columns:
                    yield ConfigurationError(f"column {column} does not exist in lines of {num_columns} columns", name)

    @property
    def output_coding_scheme(self) -> str:
        """The coding of the labels this reader produces (what a model's metrics and constraints use)."""
        return self.convert_to_coding_scheme or self.coding_scheme

    def _read(self, file_path: str) -> Iterator[Instance]:
        sentences = self._sentences(file_path)
        if self.dev_split is not None and self.dev_split.applies_to(file_path):
            listed = list(sentences)
            held_out = self.dev_split.development_positions(len(listed), file_path)
            keep_dev = self.dev_split.part == "dev"
            sentences = iter([rows for position, rows in enumerate(listed) if (position in held_out) == keep_dev])
        for rows in sentences:
            words = [columns[self.token_column] for _, columns in rows]
            labels = None
            if self.label_column is not None:
                labels = [columns[self.label_column] for _, columns in rows]
                for number, label in zip((number for number, _ in rows), labels, strict=True):
                    try:
                        parse_label(label, self.coding_scheme)
                    except ValueError as err:
                        raise InputError(str(err), f"{file_path}:{number}") from None
            yield self.text_to_instance(words, labels)

    def _sentences(self, file_path: str) -> Iterator[List[Row]]:
        """The token lines of each sentence, with their line numbers; column counts checked."""
        expected = self.num_columns
        rows: List[Row] = []
        for number, line in enumerate(iter_lines(file_path), start=1):
            if "\r" in line:  # iter_lines took the CRLF line end off: this one is inside the line
                raise InputError("carriage return inside a line (expected LF or CRLF line ends)",
                                 f"{file_path}:{number}")
            text = line.strip(" \t")
            columns = COLUMN_SEPARATOR.split(text) if text else []
            if not columns or columns[0] == DOCUMENT_START:
                if rows:
                    yield rows
                rows = []
                continue
            if expected is None:
                expected = len(columns)
                for column in (self.token_column, self.label_column):
                    if column is not None and not -expected <= column < expected:
                        raise InputError(f"column {column} does not exist: the first token line has "
                                         f"{expected} columns", f"{file_path}:{number}")
            if len(columns) != expected:
                raise InputError(f"expected {expected} columns, found {len(columns)}", f"{file_path}:{number}")
            rows.append((number, columns))
        if rows:
            yield rows

    def text_to_instance(self, words: List[str], labels: Optional[List[str]] = None) -> Instance:
        """Instance of one sentence; `labels` (in `coding_scheme`) are converted as in `_read`."""
        fields: Dict[str, Field] = {"tokens": TextField(words, self.token_indexers),
                                    "metadata": MetadataField({"words": words})}
        if labels is not None:
            if len(labels) != len(words):
                raise InputError(f"{len(words)} words but {len(labels)} labels")
            if self.convert_to_coding_scheme is not None:
                labels = convert(labels, self.coding_scheme, self.convert_to_coding_scheme)
            fields["tags"] = SequenceLabelField(labels, self.label_namespace)
        return Instance(fields)
