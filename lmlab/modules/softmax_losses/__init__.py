"""Softmax losses: NLL of target ids from vectors. Importing this package registers them all."""
from lmlab.modules.softmax_losses.adaptive_softmax import AdaptiveSoftmaxLoss
from lmlab.modules.softmax_losses.language_model_head import LanguageModelHeadSoftmaxLoss
from lmlab.modules.softmax_losses.sampled_softmax import LogUniformSampler, SampledSoftmaxLoss
from lmlab.modules.softmax_losses.softmax import FullSoftmaxLoss
from lmlab.modules.softmax_losses.softmax_loss import SoftmaxLoss

__all__ = ["AdaptiveSoftmaxLoss", "FullSoftmaxLoss", "LanguageModelHeadSoftmaxLoss", "LogUniformSampler",
           "SampledSoftmaxLoss", "SoftmaxLoss"]
