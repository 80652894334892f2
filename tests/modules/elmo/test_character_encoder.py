"""ElmoCharacterEncoder on padded batches: only the real tokens (and `<S>`/`</S>`) go through the CNN."""
from pathlib import Path

import pytest
import torch

from lmlab.modules.elmo import ElmoCharacterEncoder, batch_to_ids

pytestmark = pytest.mark.cross_path  # compares two code paths: re-run under every CPU kernel level

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "fixtures" / "elmo"
# Ragged on purpose: 2.2 slots per real token, an empty row in the middle, a long word.
SENTENCES = [["a", "ragged", "batch", "of", "five"], ["two", "words"], [], ["x"], ["abcdefghij" * 6, "and", "more"]]


@pytest.fixture(scope="module")
def encoder() -> ElmoCharacterEncoder:
    if not SHARED.is_dir():
        pytest.skip(f"ELMo fixtures not found at {SHARED}")
    return ElmoCharacterEncoder.from_files(str(SHARED / "options.json"), str(SHARED / "lm_weights.hdf5"))


def test_cnn_highway_and_projection_see_only_the_real_tokens(encoder):
    char_ids = batch_to_ids(SENTENCES)  # (5, 5, 50): 25 slots
    num_tokens = sum(len(sentence) for sentence in SENTENCES)  # 11
    rows = {}

    def record(name):
        def hook(module, inputs, output):
            rows.setdefault(name, []).append(inputs[0].shape[0])

        return hook

    modules = {"char_embedding": encoder.char_embedding, "projection": encoder.projection}
    modules.update({f"highway {k}": highway for k, highway in enumerate(encoder.highways)})
    handles = [module.register_forward_hook(record(name)) for name, module in modules.items()]
    try:
        with torch.no_grad():
            encoder(char_ids)
    finally:
        for handle in handles:
            handle.remove()
    # One pass each, over the real tokens plus the two boundary tokens; never over the 14 padding slots.
    assert rows == {name: [num_tokens + 2] for name in modules}


def test_padded_batch_equals_each_sentence_alone(encoder):
    with torch.no_grad():
        batched = encoder(batch_to_ids(SENTENCES))
        embedding, mask = batched["token_embedding"], batched["mask"]  # (5, 7, 16), (5, 7)
        assert mask.sum(1).tolist() == [7, 4, 0, 3, 5]
        assert not embedding[~mask].any()
        for row, sentence in enumerate(SENTENCES):
            if not sentence:
                continue
            alone = encoder(batch_to_ids([sentence]))["token_embedding"][0]  # (n + 2, 16), no padding
            # The char CNN rows are independent: equal up to the summation order of a differently sized
            # matmul (measured: bit-identical with torch 2.13 on CPU).
            torch.testing.assert_close(embedding[row, : len(sentence) + 2], alone, rtol=0, atol=1e-6)


def test_encode_tokens_scatters_back_and_returns_the_extra_ids(encoder):
    char_ids = batch_to_ids(SENTENCES)
    mask = (char_ids > 0).any(-1)  # (5, 5)
    with torch.no_grad():
        tokens, extra = encoder.encode_tokens(char_ids, mask, batch_to_ids([["hello", "<S>"]])[0])
        assert tokens.shape == (5, 5, 16) and extra.shape == (2, 16)
        assert not tokens[~mask].any()
        torch.testing.assert_close(tokens[mask], encoder.encode_char_ids(char_ids[mask]), rtol=0, atol=1e-6)
        torch.testing.assert_close(extra[1], encoder.boundary_embeddings()[0], rtol=0, atol=1e-6)
        # A batch without any token encodes nothing but the extra ids.
        no_tokens = torch.zeros(2, 3, 50, dtype=torch.long)
        empty, none = encoder.encode_tokens(no_tokens, torch.zeros(2, 3, dtype=torch.bool))
        assert not empty.any() and empty.shape == (2, 3, 16) and none.shape == (0, 16)
