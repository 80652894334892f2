"""spaCy's rule-based tokenizer (`spacy.blank(language)`: no statistical model, nothing downloaded)."""
from typing import Any, Dict, List

from overrides import overrides

from lmlab.common.errors import ConfigurationError
from lmlab.data.tokenizers.tokenizer import Tokenizer

_PIPELINES: Dict[str, Any] = {}
"""language code -> blank spaCy pipeline, loaded once per process on first use."""


def _blank_pipeline(language: str) -> Any:
    nlp = _PIPELINES.get(language)
    if nlp is None:
        import spacy  # heavy; imported only when a spaCy tokenizer is first used

        try:
            nlp = spacy.blank(language)
        except (ImportError, KeyError, OSError, ValueError) as err:  # spaCy raises ImportError for unknown codes
            # run time: the languages of the installed spaCy
            raise ConfigurationError(f'spaCy has no language "{language}" ({type(err).__name__}); '
                                     'use an ISO code such as "en", "de", "fr"') from err
        _PIPELINES[language] = nlp
    return nlp


@Tokenizer.register("spacy")
class SpacyTokenizer(Tokenizer):
    """spaCy's rule-based tokenizer for `language` (punctuation, clitics, abbreviations).

    Registered as a `Tokenizer` with name "spacy".

    Parameters
        language: str = "en"     spaCy language code, loaded with `spacy.blank` (no model download).
        lowercase: bool = False  lowercase every token after tokenizing.
    Inputs
        text: str, or a list of texts for `batch_tokenize` (tokenized with `nlp.pipe`).
    Outputs
        List[str] tokens; whitespace-only tokens (spaCy keeps runs of spaces) are dropped.
        "Don't stop, Mr. Smith!" -> ["Do", "n't", "stop", ",", "Mr.", "Smith", "!"].
    Notes
        The pipeline is loaded lazily, once per language per process, and is not part of the object's
        state, so the tokenizer pickles cheaply for data-loader workers.
    """

    def __init__(self, language: str = "en", lowercase: bool = False) -> None:
        self.language = language
        self.lowercase = lowercase

    def _tokens(self, doc: Any) -> List[str]:
        if self.lowercase:
            return [token.text.lower() for token in doc if not token.is_space]
        return [token.text for token in doc if not token.is_space]

    @overrides
    def tokenize(self, text: str) -> List[str]:
        return self._tokens(_blank_pipeline(self.language)(text))

    @overrides
    def batch_tokenize(self, texts: List[str]) -> List[List[str]]:
        return [self._tokens(doc) for doc in _blank_pipeline(self.language).pipe(texts)]

    def __repr__(self) -> str:
        return f"SpacyTokenizer(language={self.language!r}, lowercase={self.lowercase})"
