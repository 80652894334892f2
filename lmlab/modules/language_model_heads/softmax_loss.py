"""`softmax_loss`: any `SoftmaxLoss` as a language model head (log-probabilities as the logits)."""
import torch
from overrides import overrides

from lmlab.common.errors import ConfigurationError
from lmlab.common.lazy import Lazy
from lmlab.data.vocabulary import Vocabulary
from lmlab.modules.language_model_heads.language_model_head import LanguageModelHead
from lmlab.modules.softmax_losses.softmax_loss import SoftmaxLoss


@LanguageModelHead.register("softmax_loss")
class SoftmaxLossLanguageModelHead(LanguageModelHead):
    """A `language_model`'s output layers (`SoftmaxLoss`: "softmax", "adaptive_softmax", "sampled_softmax",
    "language_model_head") as a head, so that they also serve a `masked_language_model`: its logits are the
    loss's full log-probabilities (a softmax of them gives the same distribution).

    Registered as a `LanguageModelHead` with name "softmax_loss".

    Parameters
        input_dim: int                    D.
        softmax_loss: Lazy[SoftmaxLoss]   built with num_words = V, embedding_dim = D.
        vocab_namespace: str = "tokens"   V = the size of this namespace of `vocab`.
        vocab: Vocabulary                 injected by lmlab.
    Inputs
        hidden: (..., D) float.
    Outputs
        (..., V) float log-probabilities (`SoftmaxLoss.log_probs`: exact, also for a sampled softmax).
    Notes
        `tie_weights` is the loss's.
    """

    def __init__(self, input_dim: int, softmax_loss: Lazy[SoftmaxLoss], vocab: Vocabulary,
                 vocab_namespace: str = "tokens") -> None:
        super().__init__()
        self.input_dim = input_dim
        self.output_dim = vocab.get_vocab_size(vocab_namespace)
        self.softmax_loss = softmax_loss.construct(num_words=self.output_dim, embedding_dim=input_dim)
        # run time: how the vocabulary was built
        if self.softmax_loss.requires_frequency_sorted_vocabulary and not vocab.is_frequency_sorted(vocab_namespace):
            raise ConfigurationError(f'{type(self.softmax_loss).__name__} needs the ids of vocabulary namespace '
                                     f'"{vocab_namespace}" sorted by frequency, and this vocabulary does not record '
                                     "that", "softmax_loss")

    @overrides
    def tie_weights(self, weight: torch.nn.Parameter) -> None:
        self.softmax_loss.tie_weights(weight)

    @overrides
    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.softmax_loss.log_probs(hidden)  # (..., V)

    def extra_repr(self) -> str:
        return f"input_dim={self.input_dim}, output_dim={self.output_dim}"
