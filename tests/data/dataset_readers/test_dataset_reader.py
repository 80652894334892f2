import os
from typing import Iterator

import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from lmlab.common import ConfigurationError, InputError, Params
from lmlab.data import (
    ContiguousLanguageModelingReader,
    DatasetReader,
    Instance,
    MaskedLanguageModelingReader,
    MetadataField,
    SimpleLanguageModelingDatasetReader,
)
from lmlab.data.dataset_readers.dataset_reader import TokenFraming, iter_lines


class LineReader(DatasetReader):
    """One instance per line: metadata (file name, line, worker id). Deliberately not registered."""

    def _read(self, file_path: str) -> Iterator[Instance]:
        for line in iter_lines(file_path):
            yield self.text_to_instance(os.path.basename(file_path), line)

    def text_to_instance(self, name: str, line: str) -> Instance:  # type: ignore[override]
        info = get_worker_info()
        return Instance({"line": MetadataField((name, line)), "worker": MetadataField(info.id if info else None)})


def lines(instances):
    return [instance["line"].value for instance in instances]


def write_shards(folder, count, per_file):
    folder.mkdir()
    for shard in range(count):
        (folder / f"part-{shard:02d}.txt").write_text("".join(f"{shard}.{i}\n" for i in range(per_file)))
    return folder


def test_file_folder_and_glob(tmp_path):
    folder = write_shards(tmp_path / "shards", 3, 2)
    (folder / ".hidden.txt").write_text("secret\n")
    (folder / "sub").mkdir()
    (folder / "sub" / "x.txt").write_text("nested\n")
    reader = LineReader()
    everything = [("part-00.txt", "0.0"), ("part-00.txt", "0.1"), ("part-01.txt", "1.0"), ("part-01.txt", "1.1"),
                  ("part-02.txt", "2.0"), ("part-02.txt", "2.1")]
    assert lines(reader.read(str(folder))) == everything
    assert lines(reader.read(str(folder / "part-01.txt"))) == everything[2:4]
    assert lines(reader.read(str(folder / "part-0[02].txt"))) == everything[:2] + everything[4:]
    assert lines(LineReader(max_instances=3).read(str(folder))) == everything[:3]
    first, second = list(reader.read(str(folder))), list(reader.read(str(folder)))
    assert lines(first) == lines(second)  # deterministic


def test_missing_paths_are_input_errors_naming_the_path(tmp_path):
    (tmp_path / "train.txt").write_text("x\n")
    missing = str(tmp_path / "trian.txt")
    with pytest.raises(InputError) as info:
        LineReader().read(missing)  # raised by read() itself, before iterating
    assert info.value.problems[0][0] == missing
    assert str(info.value) == f'input error at {missing}: no such file or folder; did you mean "train.txt"?'
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="folder contains no data files"):
        LineReader().read(str(tmp_path / "empty"))
    with pytest.raises(InputError, match="no files match"):
        LineReader().read(str(tmp_path / "*.csv"))


def test_bad_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"ok\n\xef\xbb\xbfstill ok\nbad \xff\n")
    with pytest.raises(InputError) as info:
        list(LineReader().read(str(path)))
    assert info.value.problems[0][0] == f"{path}:3"


def test_byte_order_mark_and_line_ends(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbffirst\r\nsecond\n\nlast")
    assert list(iter_lines(str(path))) == ["first", "second", "", "last"]


def test_max_instances_must_be_positive():
    with pytest.raises(ConfigurationError) as info:
        DatasetReader.from_params(Params({"type": "simple_language_modeling", "max_instances": 0}, "dataset_reader"))
    assert info.value.problems[0][0] == "dataset_reader.max_instances"


class ReaderDataset(IterableDataset):
    def __init__(self, reader: DatasetReader, path: str) -> None:
        self.reader, self.path = reader, path

    def __iter__(self):
        return iter(self.reader.read(self.path))


def unbatched(item):
    return item


def read_with_workers(reader, path, num_workers=2):
    context = "fork" if "fork" in torch.multiprocessing.get_all_start_methods() else None
    loader = DataLoader(ReaderDataset(reader, path), batch_size=None, num_workers=num_workers,
                        collate_fn=unbatched, multiprocessing_context=context)
    return list(loader)


def test_workers_split_shard_files(tmp_path):
    folder = write_shards(tmp_path / "shards", 5, 3)
    instances = read_with_workers(LineReader(), str(folder))
    assert sorted(lines(instances)) == sorted(lines(LineReader().read(str(folder))))  # all, no duplicates
    assert len(instances) == 15
    for instance in instances:  # worker w read files w, w+2, ...
        shard = int(instance["line"].value[1].split(".")[0])
        assert instance["worker"].value == shard % 2


def test_workers_split_one_file_by_instance_and_respect_max_instances(tmp_path):
    path = tmp_path / "one.txt"
    path.write_text("".join(f"{i}\n" for i in range(11)))
    instances = read_with_workers(LineReader(), str(path))
    assert sorted(int(line) for _, line in lines(instances)) == list(range(11))
    assert all(instance["worker"].value == int(instance["line"].value[1]) % 2 for instance in instances)
    folder = write_shards(tmp_path / "shards", 4, 3)  # enough files, but max_instances counts the whole stream
    limited = read_with_workers(LineReader(max_instances=5), str(folder))
    assert sorted(lines(limited)) == lines(LineReader().read(str(folder)))[:5]


def test_token_framing_cuts_the_sentence_so_that_the_framed_sequence_fits():
    framing = TokenFraming(("<S>",), ("</S>",), max_length=4)
    assert framing.cut(list("abcde")) == ["a", "b"]
    assert framing.frame(list("abcde")) == ["<S>", "a", "b", "</S>"]
    assert framing.frame(["a"]) == ["<S>", "a", "</S>"]
    assert TokenFraming(max_length=2).frame(list("abc")) == ["a", "b"]
    assert TokenFraming().frame(list("abc")) == list("abc") and LineReader().framing == TokenFraming()


def test_each_text_reader_states_the_framing_it_applies():
    simple = SimpleLanguageModelingDatasetReader(max_sequence_length=4, start_tokens=["<S>"], end_tokens=["</S>"])
    assert simple.framing == TokenFraming(("<S>",), ("</S>",), 4)
    assert simple.text_to_instance("a b c d e")["source"].tokens == simple.framing.frame(list("abcde"))
    assert ContiguousLanguageModelingReader().framing == TokenFraming(end_tokens=("<eos>",))
    assert ContiguousLanguageModelingReader(end_of_line_token=None).framing == TokenFraming()
    assert MaskedLanguageModelingReader(max_sequence_length=6).framing == TokenFraming(max_length=6)
