import pytest
import torch
from torch.nn import functional as F

from lmlab.common import ConfigurationError
from lmlab.data import Batch, MaskedLanguageModelingReader, Vocabulary
from lmlab.models import MaskedLanguageModel, Model

WORDS = ["the", "cat", "sat", "on", "mat", "dog", "."]


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def vocab():
    return Vocabulary(counter={"tokens": {word: 10 - i for i, word in enumerate(WORDS + ["[MASK]"])}})  # V = 10


def build(vocab, contextualizer=True, **overrides):
    torch.manual_seed(0)
    config = {
        "type": "masked_language_model",
        "text_field_embedder": {"token_embedders": {"tokens": {"type": "embedding", "embedding_dim": 4}}},
        "language_model_head": {"type": "linear", "input_dim": 6 if contextualizer else 4},
        **overrides,
    }
    if contextualizer:
        config["contextualizer"] = {"type": "lstm", "input_size": 4, "hidden_size": 3, "bidirectional": True}
    return Model.from_params(config, vocab=vocab)


def tensors(vocab, sentences_and_targets):
    reader = MaskedLanguageModelingReader()
    batch = Batch([reader.text_to_instance(s, targets=t) for s, t in sentences_and_targets])
    batch.index_instances(vocab)
    return batch.as_tensor_dict()


BATCH = [("the [MASK] sat on the [MASK] .", ["cat", "mat"]), ("[MASK] dog", ["the"])]


def test_loss_equals_a_hand_computed_cross_entropy(vocab):
    model = build(vocab, contextualizer=False)
    embedding = model._text_field_embedder.token_embedder("tokens").weight
    head = model._language_model_head
    with torch.no_grad():  # fixed, distinct weights
        embedding.copy_(torch.arange(40, dtype=torch.float).view(10, 4).sin())
        head.weight.copy_(torch.arange(40, dtype=torch.float).view(10, 4).cos())
        head.bias.copy_(torch.linspace(-1, 1, 10))
    batch = tensors(vocab, BATCH)
    output = model(**batch)
    ids = batch["tokens"]["tokens"]["tokens"]
    rows, positions, targets = [0, 0, 1], [1, 5, 0], ["cat", "mat", "the"]
    hidden = embedding[ids[rows, positions]]  # (3, 4): no contextualizer, the [MASK] embedding itself
    logits = hidden @ head.weight.t() + head.bias
    expected = F.cross_entropy(logits, torch.tensor([vocab.get_token_index(t) for t in targets]))
    assert output["loss"].item() == pytest.approx(expected.item(), rel=1e-6)
    assert output["logits"].shape == (2, 2, 10) and int(output["num_target_tokens"]) == 3
    assert model.get_metrics(reset=True)["perplexity"] == pytest.approx(expected.exp().item(), rel=1e-5)


def test_padded_mask_positions_are_ignored(vocab):
    model = build(vocab).eval()
    batch = tensors(vocab, BATCH)
    assert batch["mask_positions"][1, 1] == -1
    loss = model(**batch)["loss"]
    # whatever sits in the padding of target_ids, the loss is the mean over the 3 real positions
    batch["target_ids"]["tokens"]["tokens"][1, 1] = vocab.get_token_index("dog")
    assert model(**batch)["loss"].item() == pytest.approx(loss.item(), rel=1e-6)
    # ... and equals the per-sentence losses weighted by their numbers of masks
    first = model(**tensors(vocab, BATCH[:1]))["loss"]
    second = model(**tensors(vocab, BATCH[1:]))["loss"]
    assert loss.item() == pytest.approx((2 * first.item() + second.item()) / 3, rel=1e-5)


@pytest.mark.cross_path
def test_batched_logits_equal_single_instance_logits(vocab):
    model = build(vocab).eval()
    together = model(**tensors(vocab, BATCH))["logits"]
    # batch and single rows are matmuls of other shapes, which SIMD kernels may block and sum in another order:
    # float32 rounding of O(1) logits, ~1e-7 each
    assert torch.allclose(together[0], model(**tensors(vocab, BATCH[:1]))["logits"][0], atol=1e-6)
    assert torch.allclose(together[1, :1], model(**tensors(vocab, BATCH[1:]))["logits"][0], atol=1e-6)


def test_gradients_reach_every_parameter(vocab):
    model = build(vocab, dropout=0.2)
    model(**tensors(vocab, BATCH))["loss"].backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_no_targets_no_loss_and_decode_lists_top_k_words(vocab):
    model = build(vocab).eval()
    batch = tensors(vocab, [("the [MASK] sat", None), ("[MASK] dog [MASK]", None)])
    assert "target_ids" not in batch
    output = model(**batch)
    assert "loss" not in output
    decoded = model.decode(output, top_k=3)
    assert decoded is output
    assert [len(masks) for masks in output["words"]] == [1, 2]
    banned = {vocab.padding_token, vocab.oov_token, "[MASK]"}
    for masks in output["words"]:
        for words in masks:
            assert len(words) == 3 and not banned & {w for w, _ in words}
            probabilities = [p for _, p in words]
            assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) < 1
    # the listed probabilities are those of the full softmax
    softmax = output["logits"].softmax(-1)
    word, probability = output["words"][1][1][0]
    assert probability == pytest.approx(softmax[1, 1, vocab.get_token_index(word)].item(), rel=1e-6)
    assert len(model.make_output_human_readable(model(**batch))["words"][0][0]) == model.top_k == 5
    # k is capped at the number of listable words
    assert len(model.decode(model(**batch), top_k=100)["words"][0][0]) == 10 - 3


def test_tied_embeddings_and_dimension_checks(vocab):
    model = build(vocab, contextualizer=False, tie_embeddings=True)
    assert model._language_model_head.weight is model._text_field_embedder.token_embedder("tokens").weight
    tied_head = build(vocab, contextualizer=False, language_model_head={"type": "tied", "input_dim": 4})
    assert tied_head._language_model_head.weight is tied_head._text_field_embedder.token_embedder("tokens").weight
    with pytest.raises(ConfigurationError, match="input dim"):
        build(vocab, language_model_head={"type": "linear", "input_dim": 5})
    with pytest.raises(ConfigurationError, match="tie"):
        build(vocab, tie_embeddings=True)  # head (10, 6) vs embedding (10, 4)
    assert isinstance(build(vocab), MaskedLanguageModel) and build(vocab).default_predictor == "masked_language_model"


def test_tying_needs_an_embedding_matrix_and_the_target_namespace_is_public(vocab):
    characters = {"token_embedders": {"tokens": {"type": "character_encoding", "embedding_dim": 2, "num_filters": 4,
                                                 "ngram_filter_sizes": [1], "num_embeddings": 5}}}
    with pytest.raises(ConfigurationError, match='needs a "tokens" token embedder of type "embedding" '
                                                 r"\(a weight matrix\), found TokenCharactersEncoder"):
        build(vocab, contextualizer=False, tie_embeddings=True, text_field_embedder=characters)
    assert build(vocab, contextualizer=False, text_field_embedder=characters).target_namespace == "tokens"
