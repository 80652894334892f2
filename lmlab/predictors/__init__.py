from lmlab.predictors.language_model import LanguageModelPredictor
from lmlab.predictors.masked_language_model import MaskedLanguageModelPredictor
from lmlab.predictors.predictor import Predictor
from lmlab.predictors.sentence_tagger import SentenceTaggerPredictor

__all__ = ["LanguageModelPredictor", "MaskedLanguageModelPredictor", "Predictor", "SentenceTaggerPredictor"]
