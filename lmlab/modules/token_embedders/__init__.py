"""Token embedders: one indexer's ids -> one vector per token. Importing this package registers them all."""
from lmlab.modules.token_embedders.character_encoding import TokenCharactersEncoder
from lmlab.modules.token_embedders.character_lstm import CharacterLstmTokenEmbedder
from lmlab.modules.token_embedders.elmo_character_encoder import ElmoCharacterEncoderTokenEmbedder
from lmlab.modules.token_embedders.elmo_token_embedder import ElmoTokenEmbedder
from lmlab.modules.token_embedders.embedding import Embedding, read_pretrained_embeddings
from lmlab.modules.token_embedders.language_model_token_embedder import LanguageModelTokenEmbedder
from lmlab.modules.token_embedders.pretrained_transformer import PretrainedTransformerEmbedder
from lmlab.modules.token_embedders.pretrained_transformer_embedding import PretrainedTransformerEmbedding
from lmlab.modules.token_embedders.pretrained_transformer_mismatched import PretrainedTransformerMismatchedEmbedder
from lmlab.modules.token_embedders.token_embedder import TokenEmbedder

__all__ = ["CharacterLstmTokenEmbedder", "ElmoCharacterEncoderTokenEmbedder", "ElmoTokenEmbedder", "Embedding",
           "LanguageModelTokenEmbedder", "PretrainedTransformerEmbedder", "PretrainedTransformerEmbedding",
           "PretrainedTransformerMismatchedEmbedder", "TokenCharactersEncoder", "TokenEmbedder",
           "read_pretrained_embeddings"]
