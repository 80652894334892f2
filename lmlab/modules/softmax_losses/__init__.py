"""Softmax losses: NLL of target ids from vectors. Importing this package registers them all."""
from lmlab.modules.softmax_losses.softmax_loss import SoftmaxLoss
from lmlab.modules.softmax_losses.sampled_softmax import LogUniformSampler, SampledSoftmaxLoss
from lmlab.modules.softmax_losses.softmax import FullSoftmaxLoss

__all__ = ["FullSoftmaxLoss", "LogUniformSampler", "SampledSoftmaxLoss", "SoftmaxLoss"]
