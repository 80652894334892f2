"""Incremental steps (`Seq2SeqEncoder.step`): every encoder against a brute-force re-run of `forward`, the states'
row selection and merging, work proportional to the new positions, and the re-run fallback."""
from unittest import mock

import pytest
import torch
from test_no_peeking import CONFIGS, H_IN

from lmlab.modules.seq2seq_encoders import Seq2SeqEncoder
from lmlab.modules.seq2seq_encoders.seq2seq_encoder import concatenate_states, rerun_step, select_rows

pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")

CAN_STEP = {"lstm", "gru", "transformer", "transformer_learned_all_layers", "basic_rnn", "basic_rnn_gru_all_layers",
            "dense_rnn", "dense_rnn_gru_all_layers", "ld_rnn", "ld_rnn_all_layers"}
PROMPTS = [4, 1, 3]  # ragged first chunks (right-padded)
CHUNKS = [[1, 1, 1], [2, 1, 2], [1, 1, 1]]  # then tokens per row per step (a chunk may be ragged too)


def _build(name):
    torch.manual_seed(0)
    return Seq2SeqEncoder.from_params(dict(CONFIGS[name])).eval()


def _padded(rows):
    """(B, T, H) right-padded inputs and (B, T) mask from a list of (n_b, H) tensors."""
    width = max(len(row) for row in rows)
    inputs = torch.zeros(len(rows), width, H_IN)
    mask = torch.zeros(len(rows), width, dtype=torch.bool)
    for b, row in enumerate(rows):
        inputs[b, :len(row)] = row
        mask[b, :len(row)] = True
    return inputs, mask


def _steps(encoder, step, sequences):
    """Feed `sequences` (B x (T_b, H)) by PROMPTS then CHUNKS through `step`; after each call compare the new
    positions with `forward` over every row's prefix so far, alone (the brute-force oracle). Max difference."""
    worst, state, done = 0.0, None, [0] * len(sequences)
    for sizes in [PROMPTS, *CHUNKS]:
        pieces = [sequence[start:start + size] for sequence, start, size in zip(sequences, done, sizes, strict=True)]
        inputs, mask = _padded(pieces)
        output, state = step(inputs, mask, state)
        for b, (sequence, start, size) in enumerate(zip(sequences, done, sizes, strict=True)):
            expected = encoder(sequence[:start + size].unsqueeze(0), torch.ones(1, start + size, dtype=torch.bool))
            expected = expected[..., 0, start:, :]  # ([L,] size, H_out)
            worst = max(worst, float((output[..., b, :size, :] - expected).abs().max()))
            assert output[..., b, size:, :].abs().sum() == 0  # padding is zero
        done = [start + size for start, size in zip(done, sizes, strict=True)]
    return worst


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_steps_equal_forward_over_the_whole_prefix(name):
    encoder = _build(name)
    assert encoder.can_step() == (name in CAN_STEP)
    torch.manual_seed(1)
    sequences = [torch.randn(length, H_IN) for length in (8, 5, 7)]
    with torch.no_grad():
        assert _steps(encoder, encoder.step, sequences) < 1e-5
        # the re-run fallback is correct for every encoder, whether or not it can step
        assert _steps(encoder, lambda *args: rerun_step(encoder, *args), sequences) < 1e-5


@pytest.mark.parametrize("name", ["lstm", "transformer", "dense_rnn", "bidirectional_lm_lstm"])
def test_rows_of_states_can_be_selected_and_states_of_different_lengths_merged(name):
    """Prefixes of lengths 6 and 2 prefilled apart, merged (a longer cache zero-padded), reordered and
    stepped together give what each row gives alone."""
    encoder = _build(name)
    torch.manual_seed(2)
    long, short, nexts = torch.randn(1, 6, H_IN), torch.randn(2, 2, H_IN), torch.randn(3, 1, H_IN)
    full = torch.ones(3, 1, dtype=torch.bool)
    with torch.no_grad():
        _, long_state = encoder.step(long, torch.ones(1, 6, dtype=torch.bool))
        _, short_state = encoder.step(short, torch.ones(2, 2, dtype=torch.bool))
        merged = concatenate_states([short_state, long_state])  # rows: short 0, short 1, long
        order = torch.tensor([2, 0, 1])
        together, _ = encoder.step(nexts, full, select_rows(merged, order))
        prefixes = [long[0], short[0], short[1]]
        for b in range(3):
            sequence = torch.cat([prefixes[b], nexts[b]]).unsqueeze(0)  # (1, T, H)
            expected = encoder(sequence, torch.ones(1, sequence.shape[1], dtype=torch.bool))[..., 0, -1, :]
            assert torch.allclose(together[..., b, 0, :], expected, atol=1e-5)


def test_concatenating_states_with_different_tensors_is_refused():
    with pytest.raises(ValueError, match="different tensors"):
        concatenate_states([{"hidden": torch.zeros(1, 2)}, {"keys": torch.zeros(1, 2)}])


@pytest.mark.parametrize("name, module", [("dense_rnn", "layers.0.rnn"),
                                          ("transformer", "stacks.0.blocks.0.attention.qkv")])
def test_a_step_computes_only_the_new_positions(name, module):
    """The recurrence / the attention's projections see one position per row per step, not the prefix."""
    encoder = _build(name)
    seen = []
    encoder.get_submodule(module).register_forward_hook(lambda _, inputs, output: seen.append(inputs[0].shape[1]))
    with torch.no_grad():
        _, state = encoder.step(torch.randn(2, 9, H_IN), torch.ones(2, 9, dtype=torch.bool))
        for _ in range(3):
            _, state = encoder.step(torch.randn(2, 1, H_IN), torch.ones(2, 1, dtype=torch.bool), state)
    assert seen == [9, 1, 1, 1]


@pytest.mark.parametrize("name, cell", [("lstm", "lstm_cell"), ("gru", "gru_cell")])
def test_an_rnn_decoding_step_runs_each_layers_cell_once_on_the_new_token(name, cell):
    """The prompt goes through the fused kernel; a one-token step through each layer's cell (B, H_in) once."""
    encoder = _build(name)  # 2 layers of 5
    seen = []
    encoder.get_submodule("rnn").register_forward_hook(lambda _, inputs, output: seen.append(inputs[0].shape[1]))
    with torch.no_grad(), mock.patch(f"torch.{cell}", wraps=getattr(torch, cell)) as cells:
        _, state = encoder.step(torch.randn(2, 9, H_IN), torch.ones(2, 9, dtype=torch.bool))
        for _ in range(3):
            _, state = encoder.step(torch.randn(2, 1, H_IN), torch.ones(2, 1, dtype=torch.bool), state)
    assert seen == [9]
    assert [tuple(call.args[0].shape) for call in cells.call_args_list] == [(2, H_IN), (2, 5)] * 3


def test_the_transformer_cache_holds_every_layers_keys_values_and_the_real_positions():
    encoder = _build("transformer")  # 2 layers, 2 heads, D = 8
    mask = torch.tensor([[True, True, True], [True, False, False]])
    with torch.no_grad():
        _, state = encoder.step(torch.randn(2, 3, H_IN), mask)
        _, state = encoder.step(torch.randn(2, 1, H_IN), torch.ones(2, 1, dtype=torch.bool), state)
    assert sorted(state) == ["key_mask", "keys.0", "keys.1", "lengths", "values.0", "values.1"]
    assert state["keys.1"].shape == (2, 2, 4, 4)  # (B, nh, T_c, hs)
    assert state["key_mask"].tolist() == [[True, True, True, True], [True, False, False, True]]
    assert state["lengths"].tolist() == [4, 2]


def test_stepping_past_the_transformers_max_length_is_a_config_error():
    encoder = Seq2SeqEncoder.from_params({"type": "transformer", "input_dim": H_IN, "num_heads": 2,
                                          "max_length": 4}).eval()
    with torch.no_grad():
        _, state = encoder.step(torch.randn(1, 4, H_IN), torch.ones(1, 4, dtype=torch.bool))
        with pytest.raises(Exception, match="5 timesteps, more than the transformer's max_length 4"):
            encoder.step(torch.randn(1, 1, H_IN), torch.ones(1, 1, dtype=torch.bool), state)


@pytest.mark.parametrize("name", ["lstm", "dense_rnn"])
def test_steps_neither_read_nor_change_carried_state_and_the_rerun_forgets_it(name):
    encoder = _build(name)
    encoder.set_stateful(True)
    inputs, mask = torch.randn(2, 3, H_IN), torch.ones(2, 3, dtype=torch.bool)
    with torch.no_grad():
        fresh, _ = encoder.step(inputs, mask)
        encoder(torch.randn(2, 5, H_IN), torch.ones(2, 5, dtype=torch.bool))  # now carries a state for B = 2
        carried = encoder.get_extra_state().clone()
        stepped, _ = encoder.step(inputs, mask)
        assert torch.equal(stepped, fresh)
        assert torch.equal(encoder.get_extra_state(), carried)
        rerun, _ = rerun_step(encoder, inputs, mask)  # a prefix starts from zeros, not from the carried state
    assert torch.allclose(rerun, fresh, atol=1e-6)
