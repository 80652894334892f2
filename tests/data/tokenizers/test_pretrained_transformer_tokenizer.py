import pytest

transformers = pytest.importorskip("transformers")

from lmlab.common.params import Params  # noqa: E402
from lmlab.common.testing.tiny_transformers import FAMILIES, tiny_transformer  # noqa: E402
from lmlab.data.tokenizers import PretrainedTransformerTokenizer, Tokenizer  # noqa: E402


@pytest.mark.parametrize("family", FAMILIES)
def test_pieces_and_special_tokens_are_the_models_own(family):
    folder = str(tiny_transformer(family))
    reference = transformers.AutoTokenizer.from_pretrained(folder)
    tokenizer = Tokenizer.from_params(Params({"type": "pretrained_transformer", "model_name": folder}))
    text = "the cat sat on the mat ."
    assert tokenizer.tokenize(text) == reference.convert_ids_to_tokens(reference(text)["input_ids"])
    assert tokenizer.batch_tokenize([text, "a dog"]) == [tokenizer.tokenize(text), tokenizer.tokenize("a dog")]
    assert set(tokenizer.special_tokens) == set(reference.all_special_tokens)
    assert tokenizer.mask_token == reference.mask_token
    pieces, offsets = tokenizer.tokenize_with_offsets(text)
    assert pieces == tokenizer.tokenize(text)
    assert [text[start:end].strip() for start, end in offsets if end > start][:2] == ["the", "cat"]


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_mask_token_is_kept_whole(family):
    tokenizer = PretrainedTransformerTokenizer(str(tiny_transformer(family)))
    tokens = tokenizer.tokenize(f"the cat sat on the {tokenizer.mask_token} .")
    assert tokens.count(tokenizer.mask_token) == 1


def test_truncation_keeps_the_end_token():
    tokenizer = PretrainedTransformerTokenizer(str(tiny_transformer("bert")), max_length=4)
    assert tokenizer.tokenize("the cat sat on the mat .") == ["[CLS]", "the", "cat", "[SEP]"]
    assert len(PretrainedTransformerTokenizer(str(tiny_transformer("bert")), truncate=False)
               .tokenize("the cat " * 50)) == 102
