from lmlab.modules.metrics.average import Average
from lmlab.modules.metrics.metric import Metric
from lmlab.modules.metrics.perplexity import Perplexity

__all__ = ["Average", "Metric", "Perplexity"]
