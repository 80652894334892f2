from lmlab.data import MetadataField


def test_batches_to_a_plain_list():
    fields = [MetadataField({"id": 1}), MetadataField({"id": 2}), MetadataField(None)]
    assert fields[0].batch(fields) == [{"id": 1}, {"id": 2}, None]
    assert fields[0]["id"] == 1 and fields[0].is_indexed and len(fields[0]) == 1
