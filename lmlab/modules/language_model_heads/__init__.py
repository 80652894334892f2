"""Language model heads: hidden vectors -> vocabulary logits. Importing this package registers them all."""
from lmlab.modules.language_model_heads.language_model_head import LanguageModelHead
from lmlab.modules.language_model_heads.linear import LinearLanguageModelHead
from lmlab.modules.language_model_heads.pretrained_transformer import PretrainedTransformerLanguageModelHead
from lmlab.modules.language_model_heads.softmax_loss import SoftmaxLossLanguageModelHead

__all__ = ["LanguageModelHead", "LinearLanguageModelHead", "PretrainedTransformerLanguageModelHead",
           "SoftmaxLossLanguageModelHead"]
