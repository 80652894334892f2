from pathlib import Path

import numpy
import pytest
import torch

from lmlab.common.errors import ConfigurationError
from lmlab.modules.elmo import BiLm, Elmo, ElmoBiLm, add_sentence_boundaries, batch_to_ids

pytestmark = pytest.mark.cross_path  # compares two code paths: re-run under every CPU kernel level

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "fixtures" / "elmo"
SENTENCES = [
    ["The", "sentence", "is", "short", "."],
    ["Another", "one", "with", "more", "words", "in", "it", "."],
    ["Tiny"],
]
ONE_HOT_FIRST_LSTM = [-9e10, 1.0, -9e10]


@pytest.fixture(scope="module")
def files():
    if not SHARED.is_dir():
        pytest.skip(f"ELMo fixtures not found at {SHARED}")
    return str(SHARED / "options.json"), str(SHARED / "lm_weights.hdf5")


def _elmo(files, num_output_representations=1, **kwargs) -> Elmo:
    return Elmo(*files, num_output_representations, **kwargs)


def _stateless_bilm(files) -> ElmoBiLm:
    return ElmoBiLm(*files, stateful=False)


def test_output_shapes_and_mask(files):
    elmo = _elmo(files).eval()
    assert elmo.get_output_dim() == 32
    output = elmo(batch_to_ids(SENTENCES))
    (representation,) = output["elmo_representations"]
    assert representation.shape == (3, 8, 32)
    assert output["mask"].dtype == torch.bool
    assert output["mask"].sum(1).tolist() == [5, 8, 1]
    assert not representation[~output["mask"]].any()


def test_two_representations_have_separate_mixes(files):
    elmo = _elmo(files, 2, dropout=0.0)
    with torch.no_grad():
        elmo.scalar_mixes[1].scalar_parameters.copy_(torch.tensor([1.0, -2.0, 0.5]))
        elmo.scalar_mixes[1].gamma.fill_(0.7)
    first, second = elmo(batch_to_ids(SENTENCES))["elmo_representations"]
    assert first.shape == second.shape == (3, 8, 32)
    assert not torch.allclose(first, second)


def test_fixed_scalar_mix_selects_a_layer_and_is_frozen(files):
    elmo = _elmo(files, scalar_mix_parameters=ONE_HOT_FIRST_LSTM, dropout=0.0)
    assert not any(p.requires_grad for p in elmo.scalar_mixes.parameters())
    char_ids = batch_to_ids(SENTENCES)
    with torch.no_grad():
        representation = elmo(char_ids)["elmo_representations"][0]
        # A fresh stateful biLM sees the same (first) batch, so its states agree with Elmo's.
        layer = ElmoBiLm(*files)(char_ids)["activations"][1]  # (3, 10, 32)
    for row, sentence in enumerate(SENTENCES):
        n = len(sentence)
        torch.testing.assert_close(representation[row, :n], layer[row, 1 : n + 1], rtol=0, atol=0)


def test_keep_sentence_boundaries(files):
    char_ids = batch_to_ids(SENTENCES)
    kept = _elmo(files, keep_sentence_boundaries=True, scalar_mix_parameters=ONE_HOT_FIRST_LSTM, dropout=0.0)
    removed = _elmo(files, scalar_mix_parameters=ONE_HOT_FIRST_LSTM, dropout=0.0)
    with torch.no_grad():
        with_boundaries = kept(char_ids)
        without = removed(char_ids)
        bilm = ElmoBiLm(*files)(char_ids)
    assert with_boundaries["elmo_representations"][0].shape == (3, 10, 32)
    assert without["elmo_representations"][0].shape == (3, 8, 32)
    assert torch.equal(with_boundaries["mask"], bilm["mask"])
    torch.testing.assert_close(with_boundaries["elmo_representations"][0], bilm["activations"][1], rtol=0, atol=0)
    torch.testing.assert_close(
        without["elmo_representations"][0],
        with_boundaries["elmo_representations"][0][:, 1:-1] * without["mask"].unsqueeze(-1),
        rtol=0,
        atol=0,
    )
    assert torch.equal(without["mask"], bilm["mask"][:, 2:])


def test_layer_norm(files):
    elmo = _elmo(
        files, do_layer_norm=True, keep_sentence_boundaries=True, scalar_mix_parameters=ONE_HOT_FIRST_LSTM, dropout=0.0
    )
    output = elmo(batch_to_ids(SENTENCES))
    real = output["elmo_representations"][0][output["mask"]]
    assert abs(real.mean().item()) < 1e-5
    assert abs(real.var(unbiased=False).item() - 1.0) < 1e-4


def test_dropout_only_in_training(files):
    elmo = Elmo(None, None, 1, dropout=0.5, module=_stateless_bilm(files))
    char_ids = batch_to_ids(SENTENCES)
    with torch.no_grad():
        evaluated = elmo.eval()(char_ids)["elmo_representations"][0]
        assert torch.equal(evaluated, elmo(char_ids)["elmo_representations"][0])
        trained = elmo.train()(char_ids)["elmo_representations"][0]
    mask = elmo(char_ids)["mask"]
    dropped = (trained == 0) & mask.unsqueeze(-1)
    assert 0.3 < dropped.float().sum().item() / (mask.sum().item() * 32) < 0.7
    torch.testing.assert_close(trained[~dropped], 2.0 * evaluated[~dropped])


@pytest.mark.parametrize("requires_grad", [True, False])
def test_requires_grad(files, requires_grad):
    elmo = _elmo(files, requires_grad=requires_grad)
    assert all(p.requires_grad == requires_grad for p in elmo._elmo_lstm.parameters())
    assert all(p.requires_grad for p in elmo.scalar_mixes.parameters())


def test_vocab_to_cache_gives_the_same_activations(files):
    vocab = ["<padding>"] + sorted({word for sentence in SENTENCES for word in sentence})
    word_ids = torch.tensor([[vocab.index(w) for w in s] + [0] * (8 - len(s)) for s in SENTENCES])
    char_ids = batch_to_ids(SENTENCES)
    cached = _elmo(files, vocab_to_cache=vocab, dropout=0.0)
    uncached = _elmo(files, dropout=0.0)
    with torch.no_grad():
        for _ in range(2):  # two batches: the states carried over agree too
            with_cache = cached(char_ids, word_ids)
            without_cache = uncached(char_ids)
            assert torch.equal(with_cache["mask"], without_cache["mask"])
            numpy.testing.assert_array_almost_equal(
                with_cache["elmo_representations"][0].numpy(), without_cache["elmo_representations"][0].numpy(), 6
            )
        # Word ids alone are enough when every word is cached.
        assert cached(None, word_ids)["elmo_representations"][0].shape == (3, 8, 32)
        # An id outside the cache falls back to the characters instead of raising.
        unknown = word_ids.clone()
        unknown[0, 0] = len(vocab) + 5
        assert cached(char_ids, unknown)["elmo_representations"][0].shape == (3, 8, 32)
        with pytest.raises(ValueError, match="outside the cached vocabulary"):
            cached(None, unknown)


def test_cache_built_from_vocab_file_equals_reference_embeddings(files):
    import h5py

    vocab = (SHARED / "vocab_test.txt").read_text(encoding="utf-8").strip().split("\n")
    bilm = ElmoBiLm(*files, vocab_to_cache=vocab)
    with h5py.File(SHARED / "elmo_token_embeddings.hdf5", "r") as handle:
        expected = handle["embedding"][...]
    assert numpy.allclose(bilm._word_embedding.weight.detach().numpy(), expected, atol=1e-6)
    assert not bilm._word_embedding.weight.requires_grad


class _TinyBiLm(BiLm):
    """A made-up two-layer 'biLM' following the `BiLm` contract."""

    num_layers = 2

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(50, 6)

    def get_output_dim(self) -> int:
        return 6

    def forward(self, inputs):
        mask = (inputs > 0).any(-1)
        vectors = self.linear(inputs.float() / 100.0)
        vectors, mask = add_sentence_boundaries(vectors, mask, torch.ones(6), -torch.ones(6))
        return {"activations": [vectors, 3.0 * vectors], "mask": mask}


def test_custom_module():
    module = _TinyBiLm()
    elmo = Elmo(None, None, 1, dropout=0.0, module=module)
    assert elmo.get_output_dim() == 6
    char_ids = batch_to_ids(SENTENCES)
    output = elmo(char_ids)
    expected = 2.0 * module.linear(char_ids.float() / 100.0) * output["mask"].unsqueeze(-1)  # mean of x and 3x
    torch.testing.assert_close(output["elmo_representations"][0], expected)
    with pytest.raises(ConfigurationError, match="must both be None"):
        Elmo("options.json", None, 1, module=module)
    with pytest.raises(ConfigurationError, match="at module: expected a BiLm .*, found Linear"):
        Elmo(None, None, 1, module=torch.nn.Linear(2, 2))
    with pytest.raises(ConfigurationError, match="options file"):
        Elmo(None, None, 1)
    with pytest.raises(ConfigurationError, match="initial_scalar_parameters"):
        Elmo(None, None, 1, module=module, scalar_mix_parameters=[1.0, 2.0, 3.0])


def test_four_dimensional_input(files):
    elmo = Elmo(None, None, 2, dropout=0.0, module=_stateless_bilm(files))
    groups = [SENTENCES, [["One"], [], ["Two", "words"]]]
    char_ids = torch.zeros(2, 3, 8, 50, dtype=torch.long)
    for g, group in enumerate(groups):
        ids = batch_to_ids(group)
        char_ids[g, :, : ids.size(1)] = ids
    with torch.no_grad():
        output = elmo(char_ids)
        flat = elmo(char_ids.view(6, 8, 50))
    assert output["mask"].shape == (2, 3, 8)
    assert output["mask"].sum(-1).tolist() == [[5, 8, 1], [1, 0, 2]]
    for four_d, three_d in zip(output["elmo_representations"], flat["elmo_representations"], strict=False):
        assert four_d.shape == (2, 3, 8, 32)
        torch.testing.assert_close(four_d.view(6, 8, 32), three_d, rtol=0, atol=0)
    with pytest.raises(ValueError, match="character ids"):
        elmo(char_ids[0, 0, 0])
