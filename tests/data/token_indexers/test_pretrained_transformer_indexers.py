import numpy as np
import pytest

transformers = pytest.importorskip("transformers")

from lmlab.common.testing.tiny_transformers import FAMILIES, tiny_transformer  # noqa: E402
from lmlab.data.token_indexers import PretrainedTransformerIndexer, PretrainedTransformerMismatchedIndexer  # noqa: E402
from lmlab.data.tokenizers import PretrainedTransformerTokenizer  # noqa: E402
from lmlab.data.vocabulary import Vocabulary  # noqa: E402


@pytest.mark.parametrize("family", FAMILIES)
def test_ids_are_the_models_and_the_namespace_decodes_them(family, tmp_path):
    folder = str(tiny_transformer(family))
    reference = transformers.AutoTokenizer.from_pretrained(folder)
    text = "the cat sat on the mat ."
    tokens = PretrainedTransformerTokenizer(folder).tokenize(text)
    vocab = Vocabulary()
    arrays = PretrainedTransformerIndexer(folder, namespace="bert").tokens_to_indices(tokens, vocab)
    assert arrays["token_ids"].tolist() == reference(text)["input_ids"]
    assert arrays["mask"].tolist() == [1] * len(tokens)
    assert vocab.get_vocab_size("bert") == len(reference)
    assert not vocab.is_padded("bert")
    assert [vocab.get_token_from_index(i, "bert") for i in arrays["token_ids"]] == tokens
    vocab.save_to_files(str(tmp_path))
    loaded = Vocabulary.from_files(str(tmp_path))
    assert loaded.get_token_to_index_vocabulary("bert") == reference.get_vocab()


def test_vocabulary_from_pretrained_transformer_counts_the_rest():
    folder = str(tiny_transformer("bert"))
    vocab = Vocabulary.from_pretrained_transformer(folder, namespace="bert", instances=[])
    assert vocab.get_token_index("[MASK]", "bert") == transformers.AutoTokenizer.from_pretrained(folder).mask_token_id


@pytest.mark.parametrize("family", FAMILIES)
def test_mismatched_offsets_cover_each_words_pieces(family):
    folder = str(tiny_transformer(family))
    reference = transformers.AutoTokenizer.from_pretrained(folder)
    words = ["the", "catastrophe", "sat", "."]
    arrays = PretrainedTransformerMismatchedIndexer(folder).tokens_to_indices(words, Vocabulary())
    ids = arrays["token_ids"].tolist()
    assert ids == reference(" ".join(words))["input_ids"]
    assert arrays["mask"].tolist() == [1, 1, 1, 1]
    offsets = arrays["offsets"]
    assert np.all(offsets[1:, 0] == offsets[:-1, 1] + 1)  # contiguous, in order
    for word, (start, end) in zip(words, offsets.tolist(), strict=True):
        assert reference.decode(ids[start:end + 1]).strip() == word
