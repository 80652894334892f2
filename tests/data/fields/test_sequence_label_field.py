import pytest
import torch

from lmlab.data.fields.sequence_label_field import SequenceLabelField
from lmlab.data.vocabulary import Vocabulary


def test_counts_indexes_and_pads_labels():
    fields = [SequenceLabelField(["B-NP", "I-NP", "O"]), SequenceLabelField(["O"], "labels")]
    counter = {}
    for field in fields:
        field.count_vocab_items(counter)
    assert counter == {"labels": {"B-NP": 1, "I-NP": 1, "O": 2}}
    vocab = Vocabulary(counter=counter)
    with pytest.raises(RuntimeError, match="not indexed"):
        fields[0].batch(fields)
    for field in fields:
        field.index(vocab)
    assert fields[0].is_indexed and len(fields[0]) == 3
    batch = fields[0].batch(fields)
    o, b, i = (vocab.get_token_index(label, "labels") for label in ("O", "B-NP", "I-NP"))
    assert batch.dtype == torch.int64 and batch.tolist() == [[b, i, o], [o, 0, 0]]
