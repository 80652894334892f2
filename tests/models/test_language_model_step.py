"""`LanguageModel.step` and `target_log_probs`: incremental next-token log-probabilities against the whole-prefix
computation, for contextualizers that step and one that cannot."""
from typing import cast

import pytest
import torch

from lmlab.common import Params
from lmlab.data import Batch, Instance, TextField, Vocabulary
from lmlab.data.token_indexers import SingleIdTokenIndexer
from lmlab.models import LanguageModel, Model
from lmlab.modules.seq2seq_encoders.seq2seq_encoder import select_rows

pytestmark = pytest.mark.cross_path  # compares two code paths: re-run under every CPU kernel level

WORDS = ["<s>", "</s>", *(f"w{i}" for i in range(20))]
PROMPTS = [["<s>", "w1", "w2", "w3"], ["<s>"], ["<s>", "w4", "w5"]]
NEXT = [["w6", "w7", "w8"], ["w9", "w1", "w2"], ["w3", "w3", "w0"]]  # three more tokens per row
ENCODERS = {
    "lstm": ({"type": "lstm", "input_size": 8, "hidden_size": 6, "num_layers": 2}, False),
    "transformer": ({"type": "transformer", "input_dim": 8, "num_heads": 2}, False),
    "ld_rnn": ({"type": "ld_rnn", "input_size": 8, "hidden_size": 4, "num_layers": 2}, False),
    "bidirectional_lm_lstm": ({"type": "bidirectional_lm_lstm", "input_size": 8, "hidden_size": 6}, True),
}


def _vocab() -> Vocabulary:
    vocab = Vocabulary()
    vocab.add_tokens_to_namespace(WORDS, "tokens")
    return vocab


def _model(name: str, **extra) -> LanguageModel:
    encoder, bidirectional = ENCODERS[name]
    torch.manual_seed(0)
    config = {"type": "language_model", "bidirectional": bidirectional,
              "text_field_embedder": {"token_embedders": {"tokens": {"type": "embedding", "embedding_dim": 8}}},
              "contextualizer": encoder, **extra}
    return cast(LanguageModel, Model.from_params(Params(config), vocab=_vocab()).eval())


def _source(sequences, vocab):
    instances = [Instance({"source": TextField(tokens, {"tokens": SingleIdTokenIndexer()})}) for tokens in sequences]
    for instance in instances:
        instance.index_fields(vocab)
    return Batch(instances).as_tensor_dict()["source"]


def _whole_prefix(model, sequences):
    """The oracle: (B, V) next-token log-probabilities from `contextualize` over each whole sequence, alone."""
    rows = []
    for tokens in sequences:
        model.reset_states()
        _, contextual, _ = model.contextualize(_source([tokens], model.vocab))
        rows.append(model.log_probs(model.forward_direction_embeddings(contextual[0, -1])))
    return torch.stack(rows)


@pytest.mark.parametrize("name", sorted(ENCODERS))
@pytest.mark.parametrize("rerun", [False, True])
def test_each_step_gives_the_whole_prefixs_next_token_log_probabilities(name, rerun):
    model = _model(name)
    assert model.can_step() == (name != "bidirectional_lm_lstm")
    sequences = [list(prompt) for prompt in PROMPTS]
    with torch.no_grad():
        log_probs, state = model.step(_source(sequences, model.vocab), None, rerun)
        assert torch.allclose(log_probs, _whole_prefix(model, sequences), atol=1e-5)
        for position in range(3):
            tokens = [[row[position]] for row in NEXT]
            log_probs, state = model.step(_source(tokens, model.vocab), state, rerun)
            for sequence, token in zip(sequences, tokens, strict=True):
                sequence.extend(token)
            assert log_probs.shape == (3, len(WORDS) + 2)  # + padding and OOV
            assert torch.allclose(log_probs, _whole_prefix(model, sequences), atol=1e-5)


def test_ragged_chunks_and_a_subset_of_rows():
    """Several tokens per row at once (right-padded), then only rows 2 and 0 go on."""
    model = _model("transformer")
    with torch.no_grad():
        _, state = model.step(_source(PROMPTS, model.vocab))
        chunks = [NEXT[0][:2], NEXT[1][:1], NEXT[2][:3]]
        log_probs, state = model.step(_source(chunks, model.vocab), state)
        grown = [prompt + chunk for prompt, chunk in zip(PROMPTS, chunks, strict=True)]
        assert torch.allclose(log_probs, _whole_prefix(model, grown), atol=1e-5)
        log_probs, _ = model.step(_source([["w1"], ["w2"]], model.vocab), select_rows(state, torch.tensor([2, 0])))
    assert torch.allclose(log_probs, _whole_prefix(model, [grown[2] + ["w1"], grown[0] + ["w2"]]), atol=1e-5)


def test_step_leaves_the_carried_hidden_state_alone():
    model = _model("lstm", carry_hidden_state=True)
    with torch.no_grad():
        model(_source(PROMPTS, model.vocab))  # carries a state for B = 3
        carried = model.contextualizer.get_extra_state().clone()
        log_probs, _ = model.step(_source(PROMPTS, model.vocab))
    assert torch.equal(model.contextualizer.get_extra_state(), carried)
    assert torch.allclose(log_probs, _whole_prefix(model, PROMPTS), atol=1e-5)


@pytest.mark.parametrize("extra", [{}, {"projection_dim": 5, "projection_activation": "relu"},
                                   {"softmax_loss": {"type": "sampled_softmax", "num_samples": 4}}])
def test_target_log_probs_equal_the_full_log_probs_at_the_targets(extra):
    model = _model("lstm", **extra)
    torch.manual_seed(3)
    embeddings, targets = torch.randn(11, 6), torch.randint(0, len(WORDS) + 2, (11,))
    expected = model.log_probs(embeddings).gather(1, targets.unsqueeze(1)).squeeze(1)
    assert torch.allclose(model.target_log_probs(embeddings, targets, chunk_size=4), expected, atol=1e-6)
    model.delete_softmax()
    with pytest.raises(RuntimeError, match="delete_softmax"):
        model.target_log_probs(embeddings, targets)
