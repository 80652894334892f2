import numpy as np
import pytest
import torch

from lmlab.data import SingleIdTokenIndexer, TextField, TokenCharactersIndexer, Vocabulary, make_counter


def indexers():
    return {"tokens": SingleIdTokenIndexer(), "chars": TokenCharactersIndexer(min_padding_length=2)}


def test_count_index_and_batch_to_nested_dict():
    fields = [TextField(["a", "bc"], indexers()), TextField(["bc"], indexers())]
    counter = make_counter()
    for field in fields:
        field.count_vocab_items(counter)
    assert counter == {"tokens": {"a": 1, "bc": 2}, "token_characters": {"a": 1, "b": 2, "c": 2}}
    vocab = Vocabulary(counter=counter)  # tokens: bc 2, a 3; chars: b 2, c 3, a 4
    assert not fields[0].is_indexed
    for field in fields:
        field.index(vocab)
    assert fields[0].is_indexed and len(fields[0]) == 2
    np.testing.assert_array_equal(fields[0].indexed["tokens"]["tokens"], [3, 2])
    batch = fields[0].batch(fields)
    assert set(batch) == {"tokens", "chars"}
    assert list(batch["tokens"]) == ["tokens"] and list(batch["chars"]) == ["token_characters"]
    assert batch["tokens"]["tokens"].dtype == torch.int64
    assert batch["tokens"]["tokens"].tolist() == [[3, 2], [2, 0]]
    assert batch["chars"]["token_characters"].tolist() == [[[4, 0], [2, 3]], [[2, 3], [0, 0]]]


def test_batching_before_indexing_is_a_clear_bug():
    field = TextField(["a"], indexers())
    with pytest.raises(RuntimeError, match="index_fields"):
        field.batch([field])


def test_repr_is_short():
    assert repr(TextField([str(i) for i in range(12)], {"tokens": SingleIdTokenIndexer()})) == \
        "TextField(12 tokens: '0 1 2 3 4 5 6 7 8 9 ...', indexers: tokens)"
