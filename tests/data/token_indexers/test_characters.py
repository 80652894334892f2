import numpy as np
import torch

from lmlab.common import Params
from lmlab.data import CharacterTokenizer, TokenCharactersIndexer, TokenIndexer, Vocabulary, make_counter


def char_vocab():
    # token_characters: pad 0, oov 1, a 2, b 3, c 4
    return Vocabulary(counter={"token_characters": {"a": 3, "b": 2, "c": 1}})


def test_ids_per_character_padded_to_the_longest_word():
    indexer = TokenCharactersIndexer()
    out = indexer.tokens_to_indices(["ab", "c", "bad"], char_vocab())
    assert list(out) == ["token_characters"]
    assert out["token_characters"].dtype == np.int64
    np.testing.assert_array_equal(out["token_characters"], [[2, 3, 0], [4, 0, 0], [3, 2, 1]])


def test_min_padding_length_and_empty_sequence():
    indexer = TokenIndexer.from_params(Params({"type": "characters", "min_padding_length": 4}))
    np.testing.assert_array_equal(indexer.tokens_to_indices(["ab"], char_vocab())["token_characters"], [[2, 3, 0, 0]])
    assert indexer.tokens_to_indices([], char_vocab())["token_characters"].shape == (0, 4)


def test_word_markers_start_end_tokens_and_counting():
    indexer = TokenCharactersIndexer(character_tokenizer=CharacterTokenizer(lowercase=True, start_tokens=["<w>"]),
                                     end_tokens=["c"])
    counter = make_counter()
    indexer.count_vocab_items(["Ab", "a"], counter)
    assert counter == {"token_characters": {"<w>": 3, "a": 2, "b": 1, "c": 1}}
    vocab = Vocabulary(counter=counter)  # pad, oov, <w> 2, a 3, b 4, c 5
    np.testing.assert_array_equal(indexer.tokens_to_indices(["Ab", "a"], vocab)["token_characters"],
                                  [[2, 3, 4], [2, 3, 0], [2, 5, 0]])


def test_collate_pads_tokens_and_characters():
    indexer = TokenCharactersIndexer()
    v = char_vocab()
    batch = indexer.collate([indexer.tokens_to_indices(t, v) for t in (["a"], ["abc", "b"])])
    assert batch["token_characters"].dtype == torch.int64
    assert batch["token_characters"].tolist() == [[[2, 0, 0], [0, 0, 0]], [[2, 3, 4], [3, 0, 0]]]
