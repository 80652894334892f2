import numpy as np
import torch

from lmlab.common import Params
from lmlab.data import Batch, Instance, TextField, TokenIndexer, Vocabulary, make_counter
from lmlab.data.token_indexers.elmo_characters import ElmoTokenCharactersIndexer
from lmlab.modules.elmo import batch_to_ids

SENTENCES = [
    ["<S>", "The", "café", "•", "x" * 60, "<UNK>", "</S>"],
    ["Second", "sentence"],
    ["<S>"],
]


def test_ids_are_exactly_those_of_batch_to_ids():
    indexer = TokenIndexer.from_params(Params({"type": "elmo_characters"}))
    assert isinstance(indexer, ElmoTokenCharactersIndexer)
    expected = batch_to_ids(SENTENCES)
    for row, tokens in enumerate(SENTENCES):
        out = indexer.tokens_to_indices(tokens, Vocabulary())
        assert list(out) == ["elmo_tokens"]
        assert out["elmo_tokens"].dtype == np.int64 and out["elmo_tokens"].shape == (len(tokens), 50)
        np.testing.assert_array_equal(out["elmo_tokens"], expected[row, :len(tokens)].numpy())


def test_collated_batch_equals_batch_to_ids_with_all_zero_padding_tokens():
    indexer = ElmoTokenCharactersIndexer()
    instances = [Instance({"source": TextField(tokens, {"elmo": indexer})}) for tokens in SENTENCES]
    batch = Batch(instances)
    batch.index_instances(Vocabulary())
    tensors = batch.as_tensor_dict()["source"]["elmo"]["elmo_tokens"]
    assert tensors.dtype == torch.long
    assert torch.equal(tensors, batch_to_ids(SENTENCES))
    assert not tensors[2, 1:].any()  # padding tokens are all zeros


def test_counts_nothing_and_handles_an_empty_sequence():
    indexer = ElmoTokenCharactersIndexer()
    counter = make_counter()
    indexer.count_vocab_items(["a", "b"], counter)
    assert counter == {}
    assert indexer.tokens_to_indices([], Vocabulary())["elmo_tokens"].shape == (0, 50)
    assert "elmo_characters" in repr(indexer)
