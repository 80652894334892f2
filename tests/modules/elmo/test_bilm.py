import json
from pathlib import Path
from typing import List, Tuple

import numpy
import pytest
import torch
from torch.overrides import TorchFunctionMode

from lmlab.modules.elmo import ElmoBiLm, ElmoCharacterEncoder, ElmoLstm, batch_to_ids

pytestmark = pytest.mark.cross_path  # compares two code paths: re-run under every CPU kernel level

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "fixtures" / "elmo"


@pytest.fixture(scope="module")
def files():
    if not SHARED.is_dir():
        pytest.skip(f"ELMo fixtures not found at {SHARED}")
    return {name: str(SHARED / name) for name in ("options.json", "lm_weights.hdf5")}


@pytest.fixture(scope="module")
def batches():
    """The 10 oracle batches of README section 6: batch i = sentence i of each of the 3 lists."""
    if not SHARED.is_dir():
        pytest.skip(f"ELMo fixtures not found at {SHARED}")
    sentences = json.loads((SHARED / "sentences.json").read_text())
    return [[sentences[k][i].split() for k in range(3)] for i in range(10)]


def _bilm(files, **kwargs) -> ElmoBiLm:
    return ElmoBiLm(files["options.json"], files["lm_weights.hdf5"], **kwargs)


def _top_layers(bilm, batches):
    """activations[2] of each batch with the boundaries dropped: per batch, a list of (n, 32) arrays."""
    results = []
    with torch.no_grad():
        for batch in batches:
            output = bilm(batch_to_ids(batch))
            top, mask = output["activations"][2], output["mask"]
            results.append([top[row, 1 : int(mask[row].sum()) - 1].numpy() for row in range(len(batch))])
    return results


def _expected(index: int):
    import h5py

    with h5py.File(SHARED / "lm_embeddings_0.hdf5", "r") as handle:
        data = handle[str(index)][...]  # (2, n, 16)
    return numpy.concatenate([data[0], data[1]], axis=-1)  # (n, 32)


def test_stateful_bilm_matches_bilm_tf(files, batches):
    bilm = _bilm(files)
    assert bilm.num_layers == 3 and bilm.get_output_dim() == 32
    first = bilm(batch_to_ids(batches[0]))
    assert len(first["activations"]) == 3
    assert first["mask"].dtype == torch.bool
    bilm.reset_states()

    outputs = _top_layers(bilm, batches)
    worst = 0.0
    for i, (rows, batch) in enumerate(zip(outputs, batches, strict=False)):
        assert [len(r) for r in rows] == [len(s) for s in batch]
        expected = _expected(i)
        worst = max(worst, float(numpy.abs(rows[0] - expected).max()))
        assert numpy.allclose(rows[0], expected, atol=1e-6), f"batch {i}"
    print(f"max abs error vs lm_embeddings_0.hdf5: {worst:.3g}")

    # reset_states() makes a second pass reproduce the first.
    bilm.reset_states()
    again = _top_layers(bilm, batches)
    for rows, rows_again in zip(outputs, again, strict=False):
        for row, row_again in zip(rows, rows_again, strict=False):
            numpy.testing.assert_array_equal(row, row_again)


def test_stateless_bilm_matches_only_the_first_batch(files, batches):
    outputs = _top_layers(_bilm(files, stateful=False), batches)
    assert numpy.allclose(outputs[0][0], _expected(0), atol=1e-6)
    assert not any(numpy.allclose(outputs[i][0], _expected(i), atol=1e-6) for i in range(1, 10))
    # The same sentence always gets the same vectors.
    repeat = _top_layers(_bilm(files, stateful=False), [batches[3], batches[3]])
    numpy.testing.assert_array_equal(repeat[0][1], repeat[1][1])


def test_layers_padding_and_boundaries(files):
    bilm = _bilm(files, stateful=False)
    with torch.no_grad():
        output = bilm(batch_to_ids([["a", "b", "c"], ["d"], []]))
    mask = output["mask"]
    assert mask.tolist() == [[True] * 5, [True] * 3 + [False] * 2, [False] * 5]
    for layer in output["activations"]:
        assert layer.shape == (3, 5, 32)
        assert not layer[~mask].any()
    type_layer = output["activations"][0]
    torch.testing.assert_close(type_layer[..., :16], type_layer[..., 16:], rtol=0, atol=0)


def test_no_peeking(files):
    """Forward halves at positions <= t ignore later tokens; backward halves ignore earlier ones."""
    bilm = _bilm(files, stateful=False)
    with torch.no_grad():
        base = bilm(batch_to_ids([["the", "cat", "sat", "down"]]))["activations"]
        later = bilm(batch_to_ids([["the", "cat", "ran", "off"]]))["activations"]
        earlier = bilm(batch_to_ids([["a", "dog", "sat", "down"]]))["activations"]
    for layer in (1, 2):
        # Positions: 0 <S>, 1 the, 2 cat, 3 sat/ran, 4 down/off, 5 </S>.
        torch.testing.assert_close(base[layer][0, :3, :16], later[layer][0, :3, :16], rtol=0, atol=0)
        assert not torch.allclose(base[layer][0, 3:, :16], later[layer][0, 3:, :16])
        torch.testing.assert_close(base[layer][0, 3:, 16:], earlier[layer][0, 3:, 16:], rtol=0, atol=0)
        assert not torch.allclose(base[layer][0, :3, 16:], earlier[layer][0, :3, 16:])


def test_state_is_kept_per_row(files, batches):
    """Batches of 2, 3, 1, 3 (with an all-padding row), 3 rows equal each row run alone, in order."""
    texts = [sentence for batch in batches[:4] for sentence in batch]
    a, b, c = texts[0:4], texts[4:8], texts[8:12]
    schedule = [
        [a[0], b[0]],  # batch of 2: row 2 has no state yet
        [a[1], b[1], c[0]],  # batch of 3: row 2 starts at zero
        [a[2]],  # batch of 1: rows 1 and 2 keep their states untouched
        [a[3], b[2], []],  # row 2 is all padding: keeps its state
        [a[0], b[3], c[1]],  # row 2 continues from c[0]
    ]
    bilm = _bilm(files)
    batched = []
    with torch.no_grad():
        for batch in schedule:
            output = bilm(batch_to_ids(batch))
            batched.append((output["activations"], output["mask"]))

    # Reference: one fresh stateful model per row, fed that row's own sentences as batches of one.
    for row in range(3):
        alone = _bilm(files)
        for (activations, mask), batch in zip(batched, schedule, strict=False):
            if row >= len(batch) or not batch[row]:
                continue
            with torch.no_grad():
                reference = alone(batch_to_ids([batch[row]]))
            length = reference["mask"].shape[1]
            assert mask[row].sum() == length
            for layer, ref_layer in zip(activations, reference["activations"], strict=False):
                torch.testing.assert_close(layer[row, :length], ref_layer[0], rtol=1e-5, atol=1e-6)


def test_gradients_reach_every_parameter(files):
    bilm = _bilm(files, requires_grad=True, stateful=False)
    assert all(p.requires_grad for p in bilm.parameters())
    output = bilm(batch_to_ids([["a", "tiny", "test"], ["ok"]]))
    sum(layer.sum() for layer in output["activations"]).backward()
    for name, parameter in bilm.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    assert not any(p.requires_grad for p in _bilm(files).parameters())


def test_random_init_from_options_alone(files):
    bilm = ElmoBiLm(files["options.json"], None, requires_grad=True)
    output = bilm(batch_to_ids([["hello", "world"]]))
    assert [a.shape for a in output["activations"]] == [(1, 4, 32)] * 3
    assert all(torch.isfinite(a).all() for a in output["activations"])


def test_character_encoder_matches_reference_token_embeddings(files):
    import h5py

    encoder = ElmoCharacterEncoder.from_files(files["options.json"], files["lm_weights.hdf5"])
    vocab = (SHARED / "vocab_test.txt").read_text(encoding="utf-8").strip().split("\n")
    assert len(vocab) == 458
    chunks = [vocab[i : i + 50] for i in range(0, len(vocab), 50)]
    with torch.no_grad():
        output = encoder(batch_to_ids(chunks))  # (10, 52, 16)
    embedding, mask = output["token_embedding"], output["mask"]
    assert embedding.shape == (10, 52, 16)
    words = embedding[:, 1:-1].reshape(500, 16)[: len(vocab)].numpy()
    with h5py.File(SHARED / "elmo_token_embeddings.hdf5", "r") as handle:
        expected = handle["embedding"][...]
    print(f"max abs error vs elmo_token_embeddings.hdf5: {numpy.abs(words - expected).max():.3g}")
    assert numpy.allclose(words, expected, atol=1e-6)

    # The inserted boundaries equal the encoded "<S>"/"</S>" tokens.
    with torch.no_grad():
        boundary_words = encoder(batch_to_ids([["<S>", "</S>"]]))["token_embedding"][0, 1:3]
    last = int(mask[-1].sum()) - 1
    torch.testing.assert_close(embedding[:, 0], boundary_words[0].expand(10, 16))
    torch.testing.assert_close(embedding[-1, last], boundary_words[1])
    torch.testing.assert_close(embedding[0, 51], boundary_words[1])


def test_ragged_batch_equals_each_sentence_alone(files):
    """Stateless: a padded batch (with an empty row) gives each sentence the vectors it gets with no padding."""
    sentences = [["a", "longer", "sentence", "than", "the", "others", "."], ["short", "."], [], ["one"],
                 ["seven", "tokens", "tie", "with", "the", "first", "row"]]
    bilm = _bilm(files, stateful=False)
    with torch.no_grad():
        batched = bilm(batch_to_ids(sentences))
        assert batched["mask"].sum(1).tolist() == [9, 4, 0, 3, 9]
        for row, sentence in enumerate(sentences):
            if not sentence:
                assert not any(layer[row].any() for layer in batched["activations"])
                continue
            alone = bilm(batch_to_ids([sentence]))["activations"]  # each (1, n + 2, 32), no padding
            for layer, alone_layer in zip(batched["activations"], alone, strict=False):
                # Equal up to float summation order: BLAS picks another kernel for a matmul of 1-3 rows.
                torch.testing.assert_close(layer[row, : len(sentence) + 2], alone_layer[0], rtol=0, atol=1e-6)
                assert not layer[row, len(sentence) + 2 :].any()


class _RecordMatmuls(TorchFunctionMode):
    """Records `(name, rows)` of every `torch.bmm` / `torch.baddbmm` call (rows: the second dim of the left
    operand); any other matrix product would escape the count, so it fails the test instead."""

    OTHERS = (torch.mm, torch.addmm, torch.matmul, torch.einsum, torch.nn.functional.linear, torch.Tensor.matmul)

    def __init__(self) -> None:
        super().__init__()
        self.rows: List[Tuple[str, int]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        assert func not in self.OTHERS, f"unexpected matrix product {func}"
        if func is torch.bmm:
            self.rows.append(("bmm", args[0].shape[1]))
        elif func is torch.baddbmm:
            self.rows.append(("baddbmm", args[1].shape[1]))
        return func(*args, **(kwargs or {}))


def _lstm(stateful: bool = True) -> ElmoLstm:
    torch.manual_seed(0)
    lstm = ElmoLstm(6, 4, 5, 2, cell_clip=0.5, proj_clip=0.3, use_skip_connections=True, stateful=stateful)
    with torch.no_grad():
        for bias in lstm.biases:
            bias.normal_()
    return lstm


def _ragged(lengths, timesteps, seed):
    generator = torch.Generator().manual_seed(seed)
    mask = torch.arange(timesteps).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)  # (B, T)
    return torch.randn(len(lengths), timesteps, 6, generator=generator), mask


def test_lstm_steps_only_the_rows_that_still_have_a_token():
    inputs, mask = _ragged([3, 6, 0, 1, 6], timesteps=8, seed=0)  # 16 real positions out of 40 slots
    with _RecordMatmuls() as record, torch.no_grad():
        _lstm()(inputs, mask)
    step_sizes = [4, 3, 3, 2, 2, 2]  # rows with a token at t = 0..5; no step for t = 6, 7
    one_layer = [("baddbmm", 16)] + [call for size in step_sizes for call in (("baddbmm", size), ("bmm", size))]
    # Per layer: the input half of the gates over the 16 real positions, then per step the recurrent and
    # projection matmuls of the rows still running (both directions in each call).
    assert record.rows == one_layer * 2


def test_lstm_ragged_stateful_batches_equal_each_row_run_alone():
    """Sorting rows by length keeps each row's carried state: rows beyond the previous batch start at zero,
    rows left out or all padding keep theirs, ties and reordering between calls included."""
    schedule = [([3, 6, 0, 1, 6], 7), ([2, 0, 4], 5), ([1, 1, 1, 2, 5, 3], 6), ([4, 4, 4, 4, 4, 4], 4)]
    lstm = _lstm()
    batched = []
    with torch.no_grad():
        for seed, (lengths, timesteps) in enumerate(schedule):
            inputs, mask = _ragged(lengths, timesteps, seed)
            batched.append((inputs, lengths, lstm(inputs, mask)))  # (L, B, T, 2H)
    for row in range(6):
        alone = _lstm()
        with torch.no_grad():
            for inputs, lengths, outputs in batched:
                if row >= len(lengths) or lengths[row] == 0:
                    if row < len(lengths):
                        assert not outputs[:, row].any()
                    continue
                n = lengths[row]
                reference = alone(inputs[row : row + 1, :n], torch.ones(1, n, dtype=torch.bool))[:, 0]  # (L, n, 2H)
                torch.testing.assert_close(outputs[:, row, :n], reference, rtol=0, atol=1e-6)
                assert not outputs[:, row, n:].any()


def test_lstm_without_gradients_reads_a_transposed_copy_that_follows_the_weights():
    """Inference steps read a cached (2, 4C, H) copy of each recurrent weight: same outputs as the training
    path, and a changed (or reloaded) weight is read at once, never a stale copy."""
    inputs, mask = _ragged([3, 6, 0, 1, 6], timesteps=8, seed=0)
    lstm = _lstm(stateful=False)
    trained = lstm(inputs, mask)  # autograd on: the parameters themselves
    with torch.inference_mode():
        torch.testing.assert_close(lstm(inputs, mask), trained.detach(), rtol=0, atol=1e-6)
    with torch.no_grad():
        lstm.recurrent_weights[1].mul_(0.5)  # in place, as an optimizer step
        halved = lstm(inputs, mask)
    reference = lstm(inputs, mask)
    torch.testing.assert_close(halved, reference.detach(), rtol=0, atol=1e-6)
    assert not torch.allclose(halved, trained.detach(), atol=1e-3)
    # a frozen LSTM under autograd (ELMo features in a tagger): the copy made in inference mode above is
    # saved for the backward pass to the inputs
    with torch.inference_mode():
        lstm(inputs, mask)
    for weight in lstm.recurrent_weights:
        weight.requires_grad_(False)
    inputs.requires_grad_()
    lstm(inputs, mask).sum().backward()
    assert inputs.grad is not None and inputs.grad.abs().sum() > 0
