import pickle

import numpy as np

from lmlab.data import ArrayField, Instance, MetadataField, SingleIdTokenIndexer, TextField, Vocabulary, make_counter


class CountingIndexer(SingleIdTokenIndexer):
    calls = 0

    def tokens_to_indices(self, tokens, vocab):
        CountingIndexer.calls += 1
        return super().tokens_to_indices(tokens, vocab)


def test_fields_counting_indexing_and_num_tokens():
    indexer = CountingIndexer()
    instance = Instance({"meta": MetadataField("x"), "source": TextField(["a", "b", "a"], {"tokens": indexer})})
    assert instance.get_num_tokens() == 3
    assert list(instance) == ["meta", "source"] and "source" in instance and len(instance) == 2
    counter = make_counter()
    instance.count_vocab_items(counter)
    assert counter == {"tokens": {"a": 2, "b": 1}}
    vocab = Vocabulary(counter=counter)
    CountingIndexer.calls = 0
    instance.index_fields(vocab)
    instance.index_fields(vocab)  # same vocabulary: nothing to do
    assert CountingIndexer.calls == 1
    np.testing.assert_array_equal(instance["source"].indexed["tokens"]["tokens"], [2, 3, 2])
    vocab.add_token_to_namespace("c")  # a changed vocabulary indexes again
    instance.index_fields(vocab)
    assert CountingIndexer.calls == 2
    instance.add_field("targets", TextField(["b"], {"tokens": indexer}), vocab)
    assert instance["targets"].is_indexed


def test_instance_without_text_and_pickling():
    instance = Instance({"x": ArrayField(np.zeros(4))})
    assert instance.get_num_tokens() == 0
    copy = pickle.loads(pickle.dumps(instance))
    assert copy["x"].array.shape == (4,)
    assert repr(Instance({"m": MetadataField(1)})) == "Instance(m: MetadataField(1))"
