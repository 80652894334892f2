"""The data layer: tokenizers, vocabulary, token indexers, fields, instances, batches and dataset readers.

Importing this package registers every built-in data component. It knows nothing about `nn.Module`s;
torch is imported only where tensors are made (collation, worker sharding).
"""
from lmlab.data.batch import Batch
from lmlab.data.dataset_readers import (ContiguousLanguageModelingReader, DatasetReader,
                                        SimpleLanguageModelingDatasetReader)
from lmlab.data.fields import ArrayField, Field, MetadataField, TextField
from lmlab.data.instance import Instance
from lmlab.data.token_indexers import SingleIdTokenIndexer, TokenCharactersIndexer, TokenIndexer
from lmlab.data.tokenizers import CharacterTokenizer, SpacyTokenizer, Tokenizer, WhitespaceTokenizer
from lmlab.data.vocabulary import DEFAULT_OOV_TOKEN, DEFAULT_PADDING_TOKEN, Vocabulary, make_counter

__all__ = ["ArrayField", "Batch", "CharacterTokenizer", "ContiguousLanguageModelingReader", "DatasetReader",
           "DEFAULT_OOV_TOKEN", "DEFAULT_PADDING_TOKEN", "Field", "Instance", "MetadataField",
           "SimpleLanguageModelingDatasetReader", "SingleIdTokenIndexer", "SpacyTokenizer", "TextField",
           "TokenCharactersIndexer", "TokenIndexer", "Tokenizer", "Vocabulary", "WhitespaceTokenizer",
           "make_counter"]
