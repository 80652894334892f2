from lmlab.predictors.language_model import LanguageModelPredictor
from lmlab.predictors.masked_language_model import MaskedLanguageModelPredictor
from lmlab.predictors.predictor import Predictor

__all__ = ["LanguageModelPredictor", "MaskedLanguageModelPredictor", "Predictor"]
