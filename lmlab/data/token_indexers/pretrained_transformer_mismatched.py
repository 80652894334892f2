"""`pretrained_transformer_mismatched`: words in, a pretrained model's sub-word ids out, with each word's span."""
from typing import Dict, List

import numpy as np
from overrides import overrides

from lmlab.common.pretrained_transformers import load_tokenizer
from lmlab.data.token_indexers.pretrained_transformer import PretrainedTransformerIndexer
from lmlab.data.token_indexers.token_indexer import TokenIndexer
from lmlab.data.vocabulary import Vocabulary


@TokenIndexer.register("pretrained_transformer_mismatched")
class PretrainedTransformerMismatchedIndexer(TokenIndexer):
    """Splits W words into the model's pieces and records which pieces make each word, so that a
    "pretrained_transformer_mismatched" embedder gives one vector per word (for taggers on word tokens).

    Registered as a `TokenIndexer` with name "pretrained_transformer_mismatched". Needs `lmlab[transformers]`.

    Parameters
        model_name: str          the model folder (or hub name).
        namespace: str = "tags"  where the model's vocabulary goes (see "pretrained_transformer").
    Inputs
        tokens: List[str], the W words of a sentence.
    Outputs
        {"token_ids": (P,) int64 the pieces of the words joined by single spaces, tokenized as the model's
        tokenizer does with its special tokens; "wordpiece_mask": (P,) int64 ones; "mask": (W,) int64 ones;
        "offsets": (W, 2) int64, the first and last piece (inclusive) of each word, (-1, -1) for a word the
        tokenizer drops entirely}. Collated to (B, P_max), (B, W_max) and (B, W_max, 2), 0 after each row.
    Notes
        No truncation: the embedder folds inputs longer than the model's maximum into windows. A piece
        belongs to the first word that ends at or after the piece's end (so a lone "Ġ" before a word is
        that word's).
    """

    def __init__(self, model_name: str, namespace: str = "tags") -> None:
        self.model_name = model_name
        self.namespace = namespace
        self._pieces = PretrainedTransformerIndexer(model_name, namespace)
        self._tokenizer = load_tokenizer(model_name)

    @overrides
    def tokens_to_indices(self, tokens: List[str], vocab: Vocabulary) -> Dict[str, np.ndarray]:
        self._pieces.fill_vocabulary(vocab)
        encoding = self._tokenizer(" ".join(tokens), add_special_tokens=True, return_offsets_mapping=True,
                                   return_special_tokens_mask=True)
        ids = np.asarray(encoding["input_ids"], dtype=np.int64)  # (P,)
        lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))  # (W,)
        word_ends = np.cumsum(lengths + 1) - 1  # (W,) end (exclusive) of each word in the joined text
        piece_ends = np.asarray([end for _, end in encoding["offset_mapping"]], dtype=np.int64)  # (P,)
        real = np.asarray(encoding["special_tokens_mask"]) == 0  # (P,)
        positions = np.flatnonzero(real)  # (P',) the pieces of words
        words = np.searchsorted(word_ends, piece_ends[positions], side="left")  # (P',) word of each piece
        offsets = np.full((len(tokens), 2), -1, dtype=np.int64)  # (W, 2)
        offsets[words[::-1], 0] = positions[::-1]  # the last write wins: each word's first piece
        offsets[words, 1] = positions  # each word's last piece
        return {"token_ids": ids, "wordpiece_mask": np.ones(len(ids), dtype=np.int64),
                "mask": np.ones(len(tokens), dtype=np.int64), "offsets": offsets}

    def __repr__(self) -> str:
        return f"PretrainedTransformerMismatchedIndexer(model_name={self.model_name!r}, namespace={self.namespace!r})"
