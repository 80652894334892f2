from lmlab.predictors.language_model import LanguageModelPredictor
from lmlab.predictors.predictor import Predictor

__all__ = ["LanguageModelPredictor", "Predictor"]
