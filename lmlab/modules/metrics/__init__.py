from lmlab.modules.metrics.average import Average
from lmlab.modules.metrics.categorical_accuracy import CategoricalAccuracy
from lmlab.modules.metrics.metric import Metric
from lmlab.modules.metrics.perplexity import Perplexity
from lmlab.modules.metrics.span_based_f1_measure import SpanBasedF1Measure

__all__ = ["Average", "CategoricalAccuracy", "Metric", "Perplexity", "SpanBasedF1Measure"]
