"""Token indexers: tokens -> integer arrays -> padded tensors. Importing this registers every indexer."""
from lmlab.data.token_indexers.characters import TokenCharactersIndexer
from lmlab.data.token_indexers.elmo_characters import ElmoTokenCharactersIndexer
from lmlab.data.token_indexers.pretrained_transformer import PretrainedTransformerIndexer
from lmlab.data.token_indexers.pretrained_transformer_mismatched import PretrainedTransformerMismatchedIndexer
from lmlab.data.token_indexers.single_id import SingleIdTokenIndexer
from lmlab.data.token_indexers.token_indexer import TokenIndexer

__all__ = ["ElmoTokenCharactersIndexer", "PretrainedTransformerIndexer", "PretrainedTransformerMismatchedIndexer",
           "SingleIdTokenIndexer", "TokenCharactersIndexer", "TokenIndexer"]
