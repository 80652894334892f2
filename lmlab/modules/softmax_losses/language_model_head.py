"""`language_model_head`: any `LanguageModelHead` as a language model's softmax."""
import torch
from torch.nn import functional as F

from lmlab.common.errors import ConfigurationError
from lmlab.modules.language_model_heads.language_model_head import LanguageModelHead
from lmlab.modules.softmax_losses.softmax_loss import SoftmaxLoss


@SoftmaxLoss.register("language_model_head")
class LanguageModelHeadSoftmaxLoss(SoftmaxLoss):
    """The exact softmax over the logits of a `LanguageModelHead`, so that every head (a pretrained model's
    output layer, "pretrained_transformer" / "gpt2", or "linear") also serves a `language_model`.

    Registered as a `SoftmaxLoss` with name "language_model_head".

    Parameters
        num_words: int     V (run time); must equal the head's output size.
        embedding_dim: int D (run time); must equal the head's input size.
        language_model_head: LanguageModelHead
    Inputs
        forward: embeddings (N, D) float, targets (N,) long.  log_probs: embeddings (..., D).
    Outputs
        forward: scalar sum of the N negative log-likelihoods.  log_probs: (..., V).
    Notes
        `tie_weights` is the head's.
    """

    def __init__(self, num_words: int, embedding_dim: int, language_model_head: LanguageModelHead) -> None:
        super().__init__()
        # run time, here and below: the vocabulary size and the model's vector size, given when building
        if language_model_head.get_output_dim() != num_words:
            raise ConfigurationError(f"the head scores {language_model_head.get_output_dim()} words, the target "
                                     f"namespace has {num_words}", "language_model_head")
        if language_model_head.get_input_dim() != embedding_dim:
            raise ConfigurationError(f"the head reads vectors of size {language_model_head.get_input_dim()}, the "
                                     f"model gives {embedding_dim}", "language_model_head")
        self.num_words = num_words
        self.embedding_dim = embedding_dim
        self.language_model_head = language_model_head

    def forward(self, embeddings: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.language_model_head(embeddings).float(), targets, reduction="sum")

    def log_probs(self, embeddings: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.language_model_head(embeddings).float(), dim=-1)  # (..., V)

    def tie_weights(self, weight: torch.nn.Parameter) -> None:
        self.language_model_head.tie_weights(weight)
