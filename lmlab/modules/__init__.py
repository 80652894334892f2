"""nn.Module building blocks. Importing this package registers every component of its subpackages."""
from lmlab.modules import language_model_heads, seq2seq_encoders, softmax_losses, text_field_embedders, token_embedders
