"""Token streams: encoding, joining, and the on-disk cache (hit, miss, stale, corrupt, unwritable)."""
import json
import logging
import os

import numpy as np
import pytest

from lmlab.data.token_stream import TokenStreamCache, concatenate, encode


def test_encode_gives_ids_in_order_of_first_appearance():
    stream = encode([["the", "cat", "<eos>"], [], ["the", "dog", "the", "<eos>"]])
    assert stream.words == ["the", "cat", "<eos>", "dog"]
    assert stream.ids.dtype == np.int32 and stream.ids.tolist() == [0, 1, 2, 0, 3, 0, 2]
    empty = encode([[], []])
    assert empty.words == [] and empty.ids.shape == (0,)


def test_concatenate_joins_the_words():
    a, b = encode([["x", "y", "x"]]), encode([["z", "y"]])
    joined = concatenate([a, b])
    assert joined.words == ["x", "y", "z"]
    assert [joined.words[i] for i in joined.ids] == ["x", "y", "x", "z", "y"]
    assert concatenate([a]) is a


class Source:
    """A text file and a build function that counts its calls."""

    def __init__(self, path, text):
        self.path, self.builds = path, 0
        self.write(text)

    def write(self, text):
        self.path.write_text(text, encoding="utf-8")

    def build(self):
        self.builds += 1
        return encode(line.split() + ["<eos>"] for line in self.path.read_text(encoding="utf-8").splitlines())


def tokens(stream):
    return [stream.words[i] for i in stream.ids]


@pytest.fixture
def source(tmp_path):
    return Source(tmp_path / "corpus.txt", "a b c\nb c d\n")


def entry(cache):
    metas = sorted(cache.directory.glob("*.json"))
    assert len(metas) == 1 and len(list(cache.directory.glob("*.npy"))) == 1  # one entry, no leftovers
    meta = json.loads(metas[0].read_text())
    return metas[0], cache.directory / meta["ids"]


def test_miss_then_hit_memory_mapped(tmp_path, source):
    cache = TokenStreamCache(str(tmp_path / "cache"))
    first = cache.fetch(str(source.path), "s", source.build)
    assert source.builds == 1 and tokens(first) == ["a", "b", "c", "<eos>", "b", "c", "d", "<eos>"]
    second = cache.fetch(str(source.path), "s", source.build)
    assert source.builds == 1 and isinstance(second.ids, np.memmap) and tokens(second) == tokens(first)
    cache.fetch(str(source.path), "other settings", source.build)
    assert source.builds == 2 and len(list(cache.directory.glob("*.json"))) == 2


def test_a_changed_file_is_stale_and_its_entry_replaced(tmp_path, source):
    cache = TokenStreamCache(str(tmp_path / "cache"))
    cache.fetch(str(source.path), "s", source.build)
    source.write("a b c\nb c e\n")  # same size: the modification time tells
    status = os.stat(source.path)
    os.utime(source.path, ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000))
    stream = cache.fetch(str(source.path), "s", source.build)
    assert source.builds == 2 and tokens(stream)[-2:] == ["e", "<eos>"]
    entry(cache)  # the old ids file is gone
    assert tokens(cache.fetch(str(source.path), "s", source.build))[-2:] == ["e", "<eos>"] and source.builds == 2


@pytest.mark.parametrize("damage", ["truncated ids", "flipped id", "garbage metadata", "edited word",
                                    "missing ids", "ids elsewhere"])
def test_a_corrupt_entry_is_rebuilt(tmp_path, source, damage, caplog):
    cache = TokenStreamCache(str(tmp_path / "cache"))
    expected = tokens(cache.fetch(str(source.path), "s", source.build))
    meta_path, ids_path = entry(cache)
    meta = json.loads(meta_path.read_text())
    if damage == "truncated ids":
        ids_path.write_bytes(ids_path.read_bytes()[:-6])
    elif damage == "flipped id":
        data = bytearray(ids_path.read_bytes())
        data[-4] ^= 1  # the last id, "<eos>" (2), becomes 3 ("d"): still a valid id
        ids_path.write_bytes(bytes(data))
    elif damage == "garbage metadata":
        meta_path.write_text(meta_path.read_text()[:40])
    elif damage == "edited word":
        meta_path.write_text(json.dumps({**meta, "words": ["a", "b", "x", "<eos>", "d"]}))
    elif damage == "missing ids":
        ids_path.unlink()
    else:
        meta_path.write_text(json.dumps({**meta, "ids": "../corpus.txt"}))
    with caplog.at_level(logging.WARNING, logger="lmlab.data.token_stream"):
        stream = cache.fetch(str(source.path), "s", source.build)
    assert "corrupt token cache entry" in caplog.text
    assert source.builds == 2 and tokens(stream) == expected
    entry(cache)
    assert tokens(cache.fetch(str(source.path), "s", source.build)) == expected and source.builds == 2


def test_an_unwritable_cache_only_costs_the_speed_up(tmp_path, source, caplog):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    cache = TokenStreamCache(str(blocker / "cache"))
    with caplog.at_level(logging.WARNING, logger="lmlab.data.token_stream"):
        stream = cache.fetch(str(source.path), "s", source.build)
    assert "cannot write the token cache" in caplog.text and tokens(stream)[:3] == ["a", "b", "c"]


def test_an_empty_file_is_not_cached_and_the_default_folder_follows_lmlab_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LMLAB_CACHE", str(tmp_path / "root"))
    cache = TokenStreamCache()
    assert cache.directory == tmp_path / "root" / "token_streams"
    empty = Source(tmp_path / "empty.txt", "")
    stream = cache.fetch(str(empty.path), "s", empty.build)
    assert stream.ids.shape == (0,) and stream.words == [] and not cache.directory.exists()
