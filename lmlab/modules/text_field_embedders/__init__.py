"""Text field embedders: a batched text field -> one vector per token. Importing registers them all."""
from lmlab.modules.text_field_embedders.basic import BasicTextFieldEmbedder
from lmlab.modules.text_field_embedders.text_field_embedder import TextFieldEmbedder

__all__ = ["BasicTextFieldEmbedder", "TextFieldEmbedder"]
