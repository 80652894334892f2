"""LM features from frozen language-model archives: the LMs' own outputs, direction, freezing, mixing, pruning."""
import pytest
import torch

from lmlab.common.errors import ConfigurationError
from lmlab.common.params import Params
from lmlab.data.vocabulary import Vocabulary
from lmlab.models.archival import load_archive
from lmlab.models.language_model_archive import ArchivedLanguageModelTokenEmbedder
from lmlab.models.testing import write_language_model_archive
from lmlab.modules.token_embedders import TokenEmbedder

pytestmark = pytest.mark.cross_path  # compares two code paths: re-run under every CPU kernel level

LM_WORDS = "the dog cat sees a ball red".split()
TAGGER_WORDS = "The dog sees a ball zebra".split()  # "The" only lowercased, "zebra" unknown to the LMs


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    root = tmp_path_factory.mktemp("lms")
    return (str(write_language_model_archive(root / "forward.tar.gz", LM_WORDS, seed=1)),
            str(write_language_model_archive(root / "backward.tar.gz", LM_WORDS, reverse=True, seed=2)))


@pytest.fixture(scope="module")
def vocab():
    return Vocabulary(counter={"lm_tokens": {word: 1 for word in TAGGER_WORDS}})


def embedder(archives, vocab, **config):
    torch.manual_seed(0)
    return TokenEmbedder.from_params(Params({"type": "language_model_token_embedder", "forward_archive": archives[0],
                                             "backward_archive": archives[1], "vocab_namespace": "lm_tokens",
                                             **config}), vocab=vocab)


def tagger_ids(vocab, sentences):
    width = max(len(sentence) for sentence in sentences)
    return torch.tensor([[vocab.get_token_index(word, "lm_tokens") for word in sentence] + [0] * (width - len(sentence))
                         for sentence in sentences])


def lm_output(archive, words, reverse):
    """What the archived LM's own contextualizer computes for one sentence (reversed for a backward LM)."""
    model = load_archive(archive).model
    ids = torch.tensor([[model.vocab.get_token_index(word) for word in (words[::-1] if reverse else words)]])
    with torch.no_grad():
        _, contextual, _ = model.contextualize({"tokens": {"tokens": ids}})
    return contextual[0].flip(0) if reverse else contextual[0]  # (T, D), position t = word t


def test_concat_features_are_the_language_models_own_outputs(archives, vocab):
    features = embedder(archives, vocab, lowercase_tokens=True)
    sentences = [["The", "dog", "sees", "a", "ball"], ["a", "zebra"]]
    with torch.no_grad():
        output = features(tagger_ids(vocab, sentences))
    assert output.shape == (2, 5, features.get_output_dim()) and features.get_output_dim() == 2 * (8 + 3 * 6)
    for row, sentence in enumerate(sentences):
        lm_words = [word.lower() if word.lower() in LM_WORDS else "@@UNKNOWN@@" for word in sentence]
        expected = torch.cat([lm_output(archives[0], lm_words, False), lm_output(archives[1], lm_words, True)], -1)
        assert torch.allclose(output[row, :len(sentence)], expected, atol=1e-6)
        assert (output[row, len(sentence):] == 0).all()
    unlowered = embedder(archives, vocab)
    the = vocab.get_token_index("The", "lm_tokens")
    assert unlowered.language_models[0].id_map[the] == 1 and features.language_models[0].id_map[the] > 1


def test_token_aliases_spell_tagger_words_as_the_language_models_do(archives, vocab):
    features = embedder(archives, vocab, token_aliases={"zebra": "cat", "The": "A"}, lowercase_tokens=True)
    lm_vocab = load_archive(archives[0]).model.vocab
    id_map = features.language_models[0].id_map
    for word, lm_word in (("zebra", "cat"), ("The", "a"), ("dog", "dog")):  # aliased, then lowercased
        assert id_map[vocab.get_token_index(word, "lm_tokens")] == lm_vocab.get_token_index(lm_word)
    sentence = ["The", "zebra", "sees", "a", "ball"]
    with torch.no_grad():
        output = features(tagger_ids(vocab, [sentence]))[0]
    lm_words = ["a", "cat", "sees", "a", "ball"]
    expected = torch.cat([lm_output(archives[0], lm_words, False), lm_output(archives[1], lm_words, True)], -1)
    assert torch.allclose(output, expected, atol=1e-6)


def test_context_token_is_read_before_each_sentence_in_each_direction_and_dropped(archives, vocab):
    features = embedder(archives, vocab, context_token="red")
    sentences = [["dog", "sees", "a", "ball"], ["a", "dog"]]
    with torch.no_grad():
        output = features(tagger_ids(vocab, sentences))
    for row, words in enumerate(sentences):
        expected = torch.cat([lm_output(archives[0], ["red"] + words, False)[1:],  # "red" before the sentence
                              lm_output(archives[1], words + ["red"], True)[:-1]], -1)  # and, backwards, after it
        assert torch.allclose(output[row, :len(words)], expected, atol=1e-6)
        assert (output[row, len(words):] == 0).all()
    plain = embedder(archives, vocab)(tagger_ids(vocab, sentences))
    assert not torch.allclose(output[0], plain[0], atol=1e-3)
    with pytest.raises(ConfigurationError, match=r"context_token: 'zebra' is not a word of the language model"):
        embedder(archives, vocab, context_token="zebra")


def test_backward_features_see_only_the_words_after_them_and_batching_changes_nothing(archives, vocab):
    features = embedder(archives, vocab)
    forward_width = 8 + 3 * 6
    ids = tagger_ids(vocab, [["dog", "sees", "a", "ball"], ["a", "ball", "sees", "a"], ["dog"]])
    changed = ids.clone()
    changed[0, 0] = vocab.get_token_index("zebra", "lm_tokens")
    with torch.no_grad():
        output, other = features(ids), features(changed)
        alone = features(ids[2:, :1])
    # position 0 changed: the forward LM's features change everywhere, the backward LM's only at 0
    assert not torch.allclose(output[0, 1:, :forward_width], other[0, 1:, :forward_width])
    assert torch.equal(output[0, 1:, forward_width:], other[0, 1:, forward_width:])
    assert not torch.allclose(output[0, 0, forward_width:], other[0, 0, forward_width:])
    assert torch.allclose(alone[0], output[2, :1], atol=1e-6)


def test_language_models_are_frozen_and_run_without_autograd(archives, vocab):
    features = embedder(archives, vocab, projection_dim=4, dropout=0.5)
    features.train()
    assert all(not module.training for lm in features.language_models for module in lm.modules())
    assert not any(p.requires_grad for p in features.language_models.parameters())
    ids = tagger_ids(vocab, [["dog", "sees", "a", "ball"]])
    output = features(ids)
    output.sum().backward()
    assert features.projection.weight.grad is not None
    assert all(p.grad is None for p in features.language_models.parameters())
    # no layer dropout inside the LMs in training: without the tagger's dropout the output is deterministic
    features.dropout.p = 0.0
    assert torch.equal(features(ids), features(ids))


def test_scalar_mix_mixes_each_language_models_layers(archives, vocab):
    features = embedder(archives, vocab, mode="scalar_mix")
    assert features.get_output_dim() == 6 + 6
    with torch.no_grad():
        for mix in features.mixes:
            mix.scalar_parameters.copy_(torch.tensor([-1e4, 0.0, -1e4]))  # all weight on the second layer
        output = features(tagger_ids(vocab, [["dog", "sees", "a"]]))
    expected = torch.cat([lm_output(archives[0], ["dog", "sees", "a"], False)[:, 8 + 6:8 + 12],
                          lm_output(archives[1], ["dog", "sees", "a"], True)[:, 8 + 6:8 + 12]], -1)
    assert torch.allclose(output[0], expected, atol=1e-6)
    with pytest.raises(ConfigurationError, match="only a scalar mix normalises layers"):
        embedder(archives, vocab, do_layer_norm=True)


def test_pruning_zero_gates_keeps_the_output_and_restores_from_state(archives, vocab):
    features = embedder(archives, vocab, projection_dim=5)
    features.set_gates_trainable(True)
    assert features.gates().requires_grad and features.gates().shape == (6,)
    with torch.no_grad():
        features.language_models[0].contextualizer.gates.copy_(torch.tensor([0.0, 0.7, 0.0]))
        features.language_models[1].contextualizer.gates.copy_(torch.tensor([0.0, 0.0, 0.0]))
    ids = tagger_ids(vocab, [["dog", "sees", "a", "ball"], ["a"]])
    with torch.no_grad():
        gated = features(ids)
    state = None
    features.prune()
    assert features.kept_layers() == [[1], []]
    assert features.projection.in_features == (8 + 6) + 8
    with torch.no_grad():  # the pruned LMs sum fewer products in their matmuls: float32 rounding, ~1e-7
        assert torch.allclose(features(ids), gated, atol=1e-6)
    state = features.state_dict()
    fresh = embedder(archives, vocab, projection_dim=5)  # full LMs from the same config
    fresh.load_state_dict(state)  # the kept layers travel with the state and prune first
    assert fresh.kept_layers() == [[1], []]
    with torch.no_grad():
        assert torch.allclose(fresh(ids), gated, atol=1e-6)


@pytest.mark.parametrize("config,message", [
    ({"mode": "scalar_mix"}, 'layer selection needs mode "concat" and a projection_dim'),
    ({}, 'layer selection needs mode "concat" and a projection_dim'),
])
def test_pruning_needs_a_projection_in_concat_mode(archives, vocab, config, message):
    with pytest.raises(ConfigurationError, match=message):
        embedder(archives, vocab, **config).set_gates_trainable(True)


def test_archives_that_do_not_fit_are_config_errors(tmp_path, archives, vocab):
    lstm = str(write_language_model_archive(tmp_path / "lstm.tar.gz", LM_WORDS, contextualizer="basic_rnn"))
    with pytest.raises(ConfigurationError, match="layer selection needs language models with a"):
        embedder((lstm, archives[1]), vocab, projection_dim=3).set_gates_trainable(True)
    assert embedder((lstm, archives[1]), vocab, mode="scalar_mix").get_output_dim() == 12
    with pytest.raises(ConfigurationError, match="needs the vocabulary"):
        ArchivedLanguageModelTokenEmbedder(archives[0])
