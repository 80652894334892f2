"""`pretrained_transformer`: a pretrained model's ids for its own sub-word pieces."""
from typing import Dict, List

import numpy as np
from overrides import overrides

from lmlab.common.pretrained_transformers import vocabulary_tokens, word_start_flags
from lmlab.data.token_indexers.token_indexer import TokenIndexer
from lmlab.data.vocabulary import Vocabulary


@TokenIndexer.register("pretrained_transformer")
class PretrainedTransformerIndexer(TokenIndexer):
    """Each piece (from the "pretrained_transformer" tokenizer of the same model) becomes the model's id.

    Registered as a `TokenIndexer` with name "pretrained_transformer". Needs `lmlab[transformers]`.

    Parameters
        model_name: str          the model folder (or hub name), as given to the tokenizer.
        namespace: str = "tags"  the vocabulary namespace that holds the model's vocabulary, index = id. It
            is filled from the tokenizer (`Vocabulary.add_transformer_vocab`, non-padded), not counted from
            data: the first `tokens_to_indices` fills it in a vocabulary that lacks it, and
            `"vocabulary": {"type": "from_pretrained_transformer"}` fills it before a model is built (a
            model whose output layer is sized by the namespace needs that).
        word_starts: bool = False   also give "word_starts": (T,) int64, 1 for a piece that starts a
            whitespace word of the text, or is a special token (`word_start_flags`); a `language_model` then
            reports "word_perplexity" besides its per-piece perplexity.
    Inputs
        tokens: List[str] of length T, the model's pieces, special tokens included.
    Outputs
        {"token_ids": (T,) int64 the model's ids, "mask": (T,) int64 ones}; collated to (B, T_max) each,
        0 after each row (id 0 is the model's token 0, so the mask, not the ids, tells padding).
    Notes
        A piece the model's vocabulary lacks is an `InputError` (the namespace is non-padded).
    """

    def __init__(self, model_name: str, namespace: str = "tags", word_starts: bool = False) -> None:
        self.model_name = model_name
        self.namespace = namespace
        self.word_starts = word_starts
        self._vocabulary = vocabulary_tokens(model_name)
        self._word_starts = np.asarray(word_start_flags(model_name), dtype=np.int64) if word_starts else None

    @property
    def indexes_tokens_independently(self) -> bool:
        return True

    def fill_vocabulary(self, vocab: Vocabulary) -> None:
        """Put the model's vocabulary into `namespace` of `vocab` unless it is there already."""
        if vocab.is_padded(self.namespace) or vocab.get_vocab_size(self.namespace) != len(self._vocabulary):
            vocab.add_transformer_vocab(self._vocabulary, self.namespace)

    @overrides
    def tokens_to_indices(self, tokens: List[str], vocab: Vocabulary) -> Dict[str, np.ndarray]:
        self.fill_vocabulary(vocab)
        ids = vocab.get_token_indices(tokens, self.namespace)  # (T,)
        arrays = {"token_ids": ids, "mask": np.ones(len(tokens), dtype=np.int64)}
        if self._word_starts is not None:
            arrays["word_starts"] = self._word_starts[ids]  # (T,)
        return arrays

    def __repr__(self) -> str:
        return (f"PretrainedTransformerIndexer(model_name={self.model_name!r}, namespace={self.namespace!r}, "
                f"word_starts={self.word_starts})")
