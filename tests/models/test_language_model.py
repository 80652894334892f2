"""`language_model`: the seed's output contract, exact losses, padding, directions and sampled softmax."""
import math

import pytest
import torch

from lmlab.common import ConfigurationError, Params
from lmlab.data import Batch, Instance, TextField, Vocabulary
from lmlab.data.token_indexers import SingleIdTokenIndexer
from lmlab.models import LanguageModel, Model

SENTENCES = [["<s>", "the", "cat", "sat", "</s>"], ["<s>", "a", "dog", "</s>"], ["<s>", "the", "dog", "sat", "down",
                                                                                  "</s>"]]


def _vocab() -> Vocabulary:
    vocab = Vocabulary()
    vocab.add_tokens_to_namespace(sorted({t for s in SENTENCES for t in s}), "tokens")
    return vocab


def _batch(sentences, vocab):
    instances = [Instance({"source": TextField(s, {"tokens": SingleIdTokenIndexer()})}) for s in sentences]
    for instance in instances:
        instance.index_fields(vocab)
    return Batch(instances).as_tensor_dict()


def _model(vocab, bidirectional=False, **extra) -> LanguageModel:
    torch.manual_seed(0)
    encoder = {"type": "bidirectional_lm_lstm", "input_size": 8, "hidden_size": 6, "num_layers": 2} if bidirectional \
        else {"type": "lstm", "input_size": 8, "hidden_size": 6}
    config = {"type": "language_model", "bidirectional": bidirectional,
              "text_field_embedder": {"token_embedders": {"tokens": {"type": "embedding", "embedding_dim": 8}}},
              "contextualizer": encoder, **extra}
    model = Model.from_params(Params(config), vocab=vocab)
    assert isinstance(model, LanguageModel)
    return model


def _hand_nll(model, embeddings, targets):
    """Summed NLL from the full softmax, computed by hand with log_softmax + gather."""
    keep = targets > 0
    log_probs = model.log_probs(embeddings[keep])
    return -log_probs.gather(1, targets[keep].unsqueeze(1)).sum(), int(keep.sum())


@pytest.mark.parametrize("bidirectional", [False, True])
def test_output_contract_and_exact_losses(bidirectional):
    vocab = _vocab()
    model = _model(vocab, bidirectional).eval()
    batch = _batch(SENTENCES, vocab)
    output = model(**batch)
    assert {"loss", "forward_loss", "backward_loss", "lm_embeddings", "noncontextual_token_embeddings",
            "mask"} <= set(output)
    ids = batch["source"]["tokens"]["tokens"]
    assert output["mask"].dtype == torch.bool and torch.equal(output["mask"], ids > 0)
    width = 12 if bidirectional else 6
    assert output["lm_embeddings"].shape == (3, 6, width)
    assert output["noncontextual_token_embeddings"].shape == (3, 6, 8)
    half = output["lm_embeddings"][..., :6]
    next_ids = torch.nn.functional.pad(ids[:, 1:], (0, 1))
    nll, count = _hand_nll(model, half, next_ids)
    assert count == 4 + 3 + 5  # every token after the first of each row; padding never counts
    assert output["forward_loss"].item() == pytest.approx(nll.item() / count, rel=1e-6)
    if bidirectional:
        previous_ids = torch.nn.functional.pad(ids[:, :-1], (1, 0)) * (ids > 0)
        backward_nll, backward_count = _hand_nll(model, output["lm_embeddings"][..., 6:], previous_ids)
        assert backward_count == count
        assert output["backward_loss"].item() == pytest.approx(backward_nll.item() / count, rel=1e-6)
        assert output["loss"].item() == pytest.approx(0.5 * (output["forward_loss"] + output["backward_loss"]).item())
        metrics = model.get_metrics(reset=True)
        assert metrics["forward_perplexity"] == pytest.approx(math.exp(nll.item() / count), rel=1e-6)
        assert metrics["backward_perplexity"] == pytest.approx(math.exp(backward_nll.item() / count), rel=1e-6)
    else:
        assert output["backward_loss"] is None
        assert output["loss"] is output["forward_loss"]
        assert model.get_metrics()["perplexity"] == pytest.approx(math.exp(nll.item() / count), rel=1e-6)


@pytest.mark.cross_path
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_never_changes_a_row(bidirectional):
    vocab = _vocab()
    model = _model(vocab, bidirectional).eval()
    together = model(**_batch(SENTENCES, vocab))
    total = together["forward_loss"] * 12
    alone = sum(model(**_batch([s], vocab))["forward_loss"] * (len(s) - 1) for s in SENTENCES)
    assert total.item() == pytest.approx(alone.item(), rel=1e-5)
    single = model(**_batch([SENTENCES[1]], vocab))["lm_embeddings"][0]
    assert torch.allclose(together["lm_embeddings"][1, :4], single, atol=1e-6)


def test_misconfigurations_are_rejected_with_the_config_path():
    vocab = _vocab()
    with pytest.raises(ConfigurationError, match="at contextualizer: bidirectional is true but the contextualizer is "
                                                 "not bidirectional"):
        Model.from_params(Params({
            "type": "language_model", "bidirectional": True,
            "text_field_embedder": {"token_embedders": {"tokens": {"type": "embedding", "embedding_dim": 8}}},
            "contextualizer": {"type": "lstm", "input_size": 8, "hidden_size": 6}}), vocab=vocab)
    with pytest.raises(ConfigurationError, match="lets positions see later tokens"):
        Model.from_params(Params({
            "type": "language_model", "bidirectional": True,
            "text_field_embedder": {"token_embedders": {"tokens": {"type": "embedding", "embedding_dim": 8}}},
            "contextualizer": {"type": "lstm", "input_size": 8, "hidden_size": 6, "bidirectional": True}}),
            vocab=vocab)
    with pytest.raises(ConfigurationError, match="at contextualizer.input_size: expected the text_field_embedder's "
                                                 "output size 8, found 5"):  # refused before anything is built
        Model.from_params(Params({
            "type": "language_model",
            "text_field_embedder": {"token_embedders": {"tokens": {"type": "embedding", "embedding_dim": 8}}},
            "contextualizer": {"type": "lstm", "input_size": 5, "hidden_size": 6}}), vocab=vocab)


def test_delete_softmax_num_layers_and_all_layers():
    vocab = _vocab()
    model = _model(vocab, True, contextualizer={"type": "bidirectional_lm_lstm", "input_size": 8, "hidden_size": 6,
                                                "num_layers": 2, "return_all_layers": True})
    assert model.num_layers() == 3
    output = model.eval()(**_batch(SENTENCES, vocab))
    assert isinstance(output["lm_embeddings"], list) and len(output["lm_embeddings"]) == 2
    assert output["lm_embeddings"][0].shape == (3, 6, 12)
    model.delete_softmax()
    output = model(**_batch(SENTENCES, vocab))
    assert output["loss"] is None and output["lm_embeddings"][1].shape == (3, 6, 12)


@pytest.mark.cross_path
def test_sampled_softmax_evaluates_exactly_like_the_full_softmax():
    vocab = _vocab()
    sampled = _model(vocab, True, num_samples=3)
    full = _model(vocab, True)
    state = sampled.state_dict()  # the sampled softmax keeps its bias as a (V, 1) embedding table
    state["_softmax_loss.bias"] = state["_softmax_loss.bias"].view(-1)
    full.load_state_dict(state)
    batch = _batch(SENTENCES, vocab)
    sampled.eval(), full.eval()
    assert torch.equal(sampled(**batch)["loss"], full(**batch)["loss"])
    sampled.train()
    torch.manual_seed(1)
    assert not torch.equal(sampled(**batch)["loss"], full(**batch)["loss"])  # training draws samples


def test_tied_embeddings_share_the_softmax_matrix():
    vocab = _vocab()
    model = _model(vocab, False, tie_embeddings=True,
                   contextualizer={"type": "lstm", "input_size": 8, "hidden_size": 8})
    embedding = model._text_field_embedder.token_embedder("tokens").weight
    assert model.softmax_loss.weight is embedding or model.softmax_loss.weight.data_ptr() == embedding.data_ptr()
    with pytest.raises(ConfigurationError, match="at tie_embeddings"):
        _model(vocab, False, tie_embeddings=True)  # hidden 6 != embedding 8


@pytest.mark.cross_path
def test_carried_state_continues_across_windows():
    """Two consecutive windows with carried state equal one long window (row b continues row b)."""
    vocab = _vocab()
    model = _model(vocab, False, carry_hidden_state=True).eval()
    stream = ["the", "cat", "sat", "a", "dog", "sat", "down", "the"]
    whole = model(**_batch([stream], vocab))["lm_embeddings"]
    model.reset_states()
    first = model(**_batch([stream[:4]], vocab))["lm_embeddings"]
    second = model(**_batch([stream[4:]], vocab))["lm_embeddings"]
    assert torch.allclose(torch.cat([first, second], dim=1), whole, atol=1e-6)
    state = model.state_dict()
    restored = _model(vocab, False, carry_hidden_state=True).eval()
    restored.load_state_dict(state)  # the carried state travels with the state dict
    model.reset_states()
    model(**_batch([stream[:4]], vocab))
    restored.load_state_dict(model.state_dict())
    assert torch.allclose(restored(**_batch([stream[4:]], vocab))["lm_embeddings"], second, atol=1e-6)
    with pytest.raises(ConfigurationError, match="cannot carry hidden state"):
        _model(vocab, True, carry_hidden_state=True)


def test_every_parameter_gets_a_gradient():
    vocab = _vocab()
    model = _model(vocab, True)
    model(**_batch(SENTENCES, vocab))["loss"].backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def _counted_vocab() -> Vocabulary:
    counts: dict = {}
    for sentence in SENTENCES:
        for token in sentence:
            counts[token] = counts.get(token, 0) + 1
    return Vocabulary(counter={"tokens": counts})  # frequency-sorted, and recorded as such


LD_NET = {"contextualizer": {"type": "ld_rnn", "input_size": 8, "hidden_size": 6, "num_layers": 2},
          "projection_dim": 5, "projection_activation": "relu",
          "softmax_loss": {"type": "adaptive_softmax", "cutoffs": [4, 7], "div_value": 2.0}}


@pytest.mark.cross_path
def test_projection_and_adaptive_softmax_give_exact_losses_through_log_probs():
    vocab = _counted_vocab()
    model = _model(vocab, **LD_NET).eval()
    assert model.softmax_loss.embedding_dim == 5
    batch = _batch(SENTENCES, vocab)
    output = model(**batch)
    assert output["lm_embeddings"].shape == (3, 6, 8 + 2 * 6)  # the dense output: input + every layer
    ids = batch["source"]["tokens"]["tokens"]
    next_ids = torch.nn.functional.pad(ids[:, 1:], (0, 1))
    nll, count = _hand_nll(model, output["lm_embeddings"], next_ids)  # log_probs projects, then the softmax
    assert output["loss"].item() == pytest.approx(nll.item() / count, rel=1e-6)
    projected = torch.relu(model.projection(output["lm_embeddings"]))
    assert torch.equal(model.log_probs(output["lm_embeddings"]), model.softmax_loss.log_probs(projected))
    assert model.log_probs(output["lm_embeddings"]).exp().sum(-1).sub(1).abs().max() < 1e-5


def test_adaptive_softmax_refuses_a_vocabulary_not_sorted_by_frequency():
    with pytest.raises(ConfigurationError, match='at softmax_loss: AdaptiveSoftmaxLoss needs the ids of vocabulary '
                                                 'namespace "tokens" sorted by frequency'):
        _model(_vocab(), **LD_NET)  # built by hand: its order says nothing about frequency
    with pytest.raises(ConfigurationError, match="at tie_embeddings: adaptive_softmax has no single"):
        _model(_counted_vocab(), **{**LD_NET, "projection_dim": 8, "tie_embeddings": True})
    with pytest.raises(ConfigurationError, match="at projection_activation: an activation needs a projection"):
        _model(_vocab(), projection_activation="relu")
    with pytest.raises(ConfigurationError, match='at projection_activation: expected one of .*found .rleu.; did you '
                                                 'mean "relu"'):
        _model(_vocab(), projection_dim=4, projection_activation="rleu")


def test_projection_can_be_tied_to_the_input_embedding():
    vocab = _vocab()
    model = _model(vocab, contextualizer={"type": "dense_rnn", "input_size": 8, "hidden_size": 6},
                   projection_dim=8, tie_embeddings=True)
    embedder = model._text_field_embedder.token_embedder("tokens")
    assert model.softmax_loss.weight is embedder.weight and model.projection.in_features == 14
