import numpy as np
import pytest

from lmlab.data import ArrayField, Batch, Instance, MetadataField, SingleIdTokenIndexer, TextField, Vocabulary


def instance(tokens, label):
    return Instance({"source": TextField(tokens, {"tokens": SingleIdTokenIndexer()}),
                     "weights": ArrayField(np.ones(len(tokens), dtype=np.float32)),
                     "meta": MetadataField(label)})


def test_as_tensor_dict_collates_each_field():
    batch = Batch([instance(["the", "cat"], "a"), instance(["the"], "b"), instance(["a", "cat", "sat"], "c")])
    vocab = Vocabulary(counter={"tokens": {"the": 2, "cat": 2, "sat": 1, "a": 1}})  # cat 2, the 3, a 4, sat 5
    batch.index_instances(vocab)
    tensors = batch.as_tensor_dict()
    assert list(tensors) == ["source", "weights", "meta"]
    assert list(tensors["source"]) == ["tokens"] and list(tensors["source"]["tokens"]) == ["tokens"]
    assert tensors["source"]["tokens"]["tokens"].tolist() == [[3, 2, 0], [3, 0, 0], [4, 2, 5]]
    assert tensors["weights"].tolist() == [[1, 1, 0], [1, 0, 0], [1, 1, 1]]
    assert tensors["meta"] == ["a", "b", "c"]
    assert len(batch) == 3 and batch.get_num_tokens() == 6


def test_batch_errors():
    with pytest.raises(ValueError, match="at least one"):
        Batch([])
    with pytest.raises(ValueError, match="instance 1"):
        Batch([Instance({"a": MetadataField(1)}), Instance({"b": MetadataField(1)})])
