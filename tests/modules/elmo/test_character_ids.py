import torch

from lmlab.modules.elmo import batch_to_ids, tokens_to_char_ids, word_to_char_ids


def _padded(*ids):
    return [259, *ids, 260] + [261] * (48 - len(ids))


def test_ordinary_word():
    assert word_to_char_ids("Second") == [259, 84, 102, 100, 112, 111, 101, 260] + [261] * 42


def test_sentence_boundary_words():
    assert word_to_char_ids("<S>") == [259, 257, 260] + [261] * 47
    assert word_to_char_ids("</S>") == [259, 258, 260] + [261] * 47
    # Any other bracketed string is an ordinary word.
    assert word_to_char_ids("<UNK>") == _padded(*(b + 1 for b in b"<UNK>"))


def test_long_word_is_truncated_to_48_bytes():
    ids = word_to_char_ids("x" * 60)
    assert ids == [259] + [ord("x") + 1] * 48 + [260]
    assert len(ids) == 50


def test_multi_byte_characters():
    assert word_to_char_ids("a•b") == _padded(ord("a") + 1, 0xE2 + 1, 0x80 + 1, 0xA2 + 1, ord("b") + 1)
    # Truncation is byte-wise and may cut a multi-byte character.
    assert word_to_char_ids("a" * 47 + "é") == [259] + [ord("a") + 1] * 47 + [0xC3 + 1, 260]


def test_batch_is_padded_with_zero_tokens():
    ids = batch_to_ids([["Second", "x"], ["<S>"], []])
    assert ids.dtype == torch.long and ids.shape == (3, 2, 50)
    assert ids[0].tolist() == tokens_to_char_ids(["Second", "x"])
    assert ids[1, 0].tolist() == word_to_char_ids("<S>")
    assert not ids[1, 1].any() and not ids[2].any()
    assert batch_to_ids([]).shape == (0, 0, 50)
    assert batch_to_ids([[]]).shape == (1, 0, 50)
