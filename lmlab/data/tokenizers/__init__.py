"""Tokenizers: text -> list of string tokens. Importing this package registers every implementation."""
from lmlab.data.tokenizers.character import CharacterTokenizer
from lmlab.data.tokenizers.pretrained_transformer import PretrainedTransformerTokenizer
from lmlab.data.tokenizers.spacy import SpacyTokenizer
from lmlab.data.tokenizers.tokenizer import Tokenizer
from lmlab.data.tokenizers.whitespace import WhitespaceTokenizer

__all__ = ["CharacterTokenizer", "PretrainedTransformerTokenizer", "SpacyTokenizer", "Tokenizer", "WhitespaceTokenizer"]
