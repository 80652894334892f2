import numpy as np
import pytest
import torch

from lmlab.common import ConfigurationError, InputError, Params
from lmlab.data import SingleIdTokenIndexer, TokenIndexer, Vocabulary, make_counter


def vocab():
    # tokens: pad 0, oov 1, the 2, cat 3, </S> 4, <S> 5 ("/" sorts before "S")
    return Vocabulary(counter={"tokens": {"the": 3, "cat": 2, "<S>": 1, "</S>": 1}})


def test_ids_with_oov():
    indexer = SingleIdTokenIndexer()
    out = indexer.tokens_to_indices(["the", "cat", "dog", "The"], vocab())
    assert list(out) == ["tokens"]
    assert out["tokens"].dtype == np.int64
    np.testing.assert_array_equal(out["tokens"], [2, 3, 1, 1])


def test_lowercase_and_start_end_tokens():
    indexer = TokenIndexer.from_params(Params({"lowercase_tokens": True, "start_tokens": ["<S>"],
                                               "end_tokens": ["</S>"]}))
    assert isinstance(indexer, SingleIdTokenIndexer)
    np.testing.assert_array_equal(indexer.tokens_to_indices(["The", "CAT"], vocab())["tokens"], [5, 2, 3, 4])
    counter = make_counter()
    indexer.count_vocab_items(["The", "the", "Cat"], counter)
    assert counter == {"tokens": {"<S>": 1, "the": 2, "cat": 1, "</S>": 1}}


def test_collate_pads_with_zeros_to_the_longest():
    indexer = SingleIdTokenIndexer()
    v = vocab()
    batch = indexer.collate([indexer.tokens_to_indices(t, v) for t in (["the"], ["cat", "the", "x"], [])])
    assert list(batch) == ["tokens"]
    assert batch["tokens"].dtype == torch.int64
    assert batch["tokens"].tolist() == [[2, 0, 0], [3, 2, 1], [0, 0, 0]]


def test_namespace_null_takes_integer_tokens():
    indexer = SingleIdTokenIndexer(namespace=None)
    counter = make_counter()
    indexer.count_vocab_items(["7"], counter)
    assert counter == {}
    np.testing.assert_array_equal(indexer.tokens_to_indices(["7", "0", "12"], Vocabulary())["tokens"], [7, 0, 12])
    with pytest.raises(InputError, match='found "x"'):
        indexer.tokens_to_indices(["7", "x"], Vocabulary())


def test_feature_name_other_than_text_is_a_config_error():
    with pytest.raises(ConfigurationError) as info:
        TokenIndexer.from_params(Params({"type": "single_id", "feature_name": "pos_"}, "indexers.tokens"))
    assert info.value.problems[0][0] == "indexers.tokens.feature_name"
