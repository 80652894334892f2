"""`linear` and `tied`: a linear map from hidden vectors to vocabulary logits."""
import torch
from overrides import overrides
from torch.nn import functional as F

from lmlab.data.vocabulary import Vocabulary
from lmlab.modules.language_model_heads.language_model_head import LanguageModelHead


@LanguageModelHead.register("tied", constructor="tied")
@LanguageModelHead.register("linear")
class LinearLanguageModelHead(LanguageModelHead):
    """`logits = hidden @ W.T + b`, with W (V, D) optionally shared with the input embedding.

    Registered as a `LanguageModelHead` with names "linear" and "tied" (the same class with
    `tie_embeddings=True`, built by `LinearLanguageModelHead.tied`).

    Parameters
        input_dim: int                 D.
        vocab_namespace: str = "tokens"    V = the size of this namespace of `vocab`.
        bias: bool = True              learn a (V,) bias.
        tie_embeddings: bool = False   the model is expected to call `tie_weights(embedding.weight)`
                                       after construction (recorded in `self.tie_embeddings`).
        vocab: Vocabulary              injected by lmlab.
    Inputs
        hidden: (..., D) float.
    Outputs
        (..., V) float logits.
    Attributes
        weight: (V, D) Parameter;  bias: (V,) Parameter or None.
    Notes
        `tie_weights(weight)` makes `weight` (e.g. `embedding.weight`, shape (V, D)) this head's matrix;
        a different shape is a ValueError naming both shapes.
    """

    def __init__(self, input_dim: int, vocab: Vocabulary, vocab_namespace: str = "tokens", bias: bool = True,
                 tie_embeddings: bool = False) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.vocab_namespace = vocab_namespace
        self.tie_embeddings = tie_embeddings
        self.output_dim = vocab.get_vocab_size(vocab_namespace)
        self.weight = torch.nn.Parameter(torch.empty(self.output_dim, input_dim))
        self.bias = torch.nn.Parameter(torch.empty(self.output_dim)) if bias else None
        self.reset_parameters()

    @classmethod
    def tied(cls, input_dim: int, vocab: Vocabulary, vocab_namespace: str = "tokens",
             bias: bool = True) -> "LinearLanguageModelHead":
        """The "tied" registration: a linear head with `tie_embeddings=True`."""
        return cls(input_dim, vocab, vocab_namespace=vocab_namespace, bias=bias, tie_embeddings=True)

    def reset_parameters(self) -> None:
        """As `torch.nn.Linear`: uniform(-1/sqrt(D), 1/sqrt(D)) for weight and bias."""
        bound = self.input_dim ** -0.5
        with torch.no_grad():
            self.weight.uniform_(-bound, bound)
            if self.bias is not None:
                self.bias.uniform_(-bound, bound)

    @overrides
    def tie_weights(self, weight: torch.nn.Parameter) -> None:
        """Share `weight` (V, D) as this head's output matrix."""
        if tuple(weight.shape) != tuple(self.weight.shape):
            raise ValueError(f"cannot tie the head's weight of shape {tuple(self.weight.shape)} (V, D) to a weight "
                             f"of shape {tuple(weight.shape)}")
        self.weight = weight

    @overrides
    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return F.linear(hidden, self.weight, self.bias)  # (..., V)

    def extra_repr(self) -> str:
        return (f"input_dim={self.input_dim}, output_dim={self.output_dim}, bias={self.bias is not None}, "
                f"tie_embeddings={self.tie_embeddings}")
