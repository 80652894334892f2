"""Dataset readers: data files -> lazy streams of `Instance`s. Importing this registers every reader."""
from lmlab.data.dataset_readers.conll import ConllDatasetReader
from lmlab.data.dataset_readers.contiguous_language_modeling import ContiguousLanguageModelingReader
from lmlab.data.dataset_readers.dataset_reader import DatasetReader
from lmlab.data.dataset_readers.masked_language_modeling import MaskedLanguageModelingReader
from lmlab.data.dataset_readers.simple_language_modeling import SimpleLanguageModelingDatasetReader

__all__ = ["ConllDatasetReader", "ContiguousLanguageModelingReader", "DatasetReader",
           "MaskedLanguageModelingReader", "SimpleLanguageModelingDatasetReader"]
