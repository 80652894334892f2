"""`InstanceList`: the default instance table counts, indexes and batches its instances by their fields."""
from lmlab.data import Instance, SingleIdTokenIndexer, TextField, Vocabulary
from lmlab.data.instance_table import InstanceList


def instance(tokens):
    return Instance({"source": TextField(tokens, {"tokens": SingleIdTokenIndexer()})})


def test_instance_list_counts_indexes_and_batches_the_listed_rows():
    table = InstanceList([instance(["the", "cat"]), instance(["the"]), instance(["a", "cat", "sat"])])
    counter = {}
    table.count_vocab_items(counter)
    assert counter == {"tokens": {"the": 2, "cat": 2, "a": 1, "sat": 1}}
    table.index_with(Vocabulary(counter=counter))  # cat 2, the 3, a 4, sat 5
    assert len(table) == 3 and table.num_tokens([2, 0]) == [3, 2]
    assert table.batch([2, 1])["source"]["tokens"]["tokens"].tolist() == [[4, 2, 5], [3, 0, 0]]
    assert [len(row["source"]) for row in table] == [2, 1, 3]
