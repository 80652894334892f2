"""The data layer: tokenizers, vocabulary, token indexers, fields, instances, batches and dataset readers.

Importing this package registers every built-in data component (data loaders included). It knows
nothing about `nn.Module`s. Everything but the data loaders imports torch only where tensors are made
(collation, worker sharding), and spaCy only when a spaCy tokenizer first runs.
"""
from lmlab.data.batch import Batch
from lmlab.data.data_loaders import DataLoader  # last: the loaders import the modules above
from lmlab.data.dataset_readers import (
                                        ContiguousLanguageModelingReader,
                                        DatasetReader,
                                        MaskedLanguageModelingReader,
                                        SimpleLanguageModelingDatasetReader,
)
from lmlab.data.fields import ArrayField, Field, MetadataField, TextField
from lmlab.data.instance import Instance
from lmlab.data.token_indexers import SingleIdTokenIndexer, TokenCharactersIndexer, TokenIndexer
from lmlab.data.tokenizers import CharacterTokenizer, SpacyTokenizer, Tokenizer, WhitespaceTokenizer
from lmlab.data.vocabulary import DEFAULT_OOV_TOKEN, DEFAULT_PADDING_TOKEN, Vocabulary, make_counter

__all__ = ["ArrayField", "Batch", "CharacterTokenizer", "ContiguousLanguageModelingReader", "DataLoader",
           "DatasetReader", "DEFAULT_OOV_TOKEN", "DEFAULT_PADDING_TOKEN", "Field", "Instance",
           "MaskedLanguageModelingReader", "MetadataField",
           "SimpleLanguageModelingDatasetReader", "SingleIdTokenIndexer", "SpacyTokenizer", "TextField",
           "TokenCharactersIndexer", "TokenIndexer", "Tokenizer", "Vocabulary", "WhitespaceTokenizer",
           "make_counter"]
