from typing import Dict, List

import numpy as np

from lmlab.data import TokenIndexer, Vocabulary, make_counter


class FixedWidthIndexer(TokenIndexer):
    """Like an ELMo character indexer: (T, 3) ids per sequence and no vocabulary. Not registered."""

    def tokens_to_indices(self, tokens: List[str], vocab: Vocabulary) -> Dict[str, np.ndarray]:
        return {"ids": np.array([[len(t), 7, 9] for t in tokens], dtype=np.int32).reshape(len(tokens), 3)}


def test_vocabulary_free_indexer_counts_nothing_and_collates_generically():
    indexer = FixedWidthIndexer()
    counter = make_counter()
    indexer.count_vocab_items(["abc"], counter)
    assert counter == {}
    batch = indexer.collate([indexer.tokens_to_indices(t, Vocabulary()) for t in (["ab", "c"], ["abcd"])])
    assert batch["ids"].dtype.is_floating_point is False and str(batch["ids"].dtype) == "torch.int64"
    assert batch["ids"].tolist() == [[[2, 7, 9], [1, 7, 9]], [[4, 7, 9], [0, 0, 0]]]


def test_registered_names():
    assert TokenIndexer.list_available() == ["single_id", "characters", "elmo_characters", "pretrained_transformer",
                                             "pretrained_transformer_mismatched"]
