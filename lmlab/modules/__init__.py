"""nn.Module building blocks. Importing this package registers every component of its subpackages."""
from lmlab.modules import (
    elmo,
    initializers,
    language_model_heads,
    metrics,
    regularizers,
    seq2seq_encoders,
    softmax_losses,
    text_field_embedders,
    token_embedders,
)

__all__ = ["elmo", "initializers", "language_model_heads", "metrics", "regularizers", "seq2seq_encoders",
           "softmax_losses", "text_field_embedders", "token_embedders"]
