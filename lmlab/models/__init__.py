from lmlab.models.archival import Archive, archive_model, load_archive
from lmlab.models.crf_tagger import CrfTagger
from lmlab.models.language_model import LanguageModel
from lmlab.models.language_model_archive import ArchivedLanguageModelTokenEmbedder, load_language_model
from lmlab.models.masked_language_model import MaskedLanguageModel
from lmlab.models.model import Model

__all__ = ["Archive", "ArchivedLanguageModelTokenEmbedder", "CrfTagger", "LanguageModel", "MaskedLanguageModel",
           "Model", "archive_model", "load_archive", "load_language_model"]
