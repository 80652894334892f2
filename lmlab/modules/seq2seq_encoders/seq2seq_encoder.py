"""`Seq2SeqEncoder`: the contract for contextualising a padded batch of vectors, whole or step by step."""
from typing import Any, Dict, Optional, Sequence, Tuple

import torch

from lmlab.common.registrable import Registrable

StepState = Dict[str, torch.Tensor]
"""What an encoder carries from one `step` to the next for a batch of rows: named tensors whose first
dimension is the row, (B, ...). `select_rows` keeps some rows; `concatenate_states` stacks the rows of several
states, zero-padding every other dimension to the largest, so zeros in a state must mean "nothing there"
(an all-False key mask, say). Only the encoder that made a state reads its tensors."""


class Seq2SeqEncoder(torch.nn.Module, Registrable):
    """Maps a padded batch of vectors to a batch of contextual vectors of the same length.

    Base class of the "seq2seq_encoder" registry.

    Inputs
        inputs: (B, T, H_in) float;  mask: (B, T) bool, True = token (padding only at the end of a row).
    Outputs
        (B, T, H_out) float, zeros where mask is False. Encoders built with `return_all_layers=True`
        return (L, B, T, H_out) instead: every layer's output, bottom first, the top layer last.
    Notes
        *Directions.* A bidirectional encoder's output is the forward half (H_out / 2) followed by the
        backward half. `no_peeking()` is True when the forward half at t depends only on inputs at
        positions <= t and the backward half only on positions >= t of the same row: the property a
        language model needs. A standard bidirectional RNN stack feeds both directions of layer l into
        both directions of layer l + 1, so it peeks and must not be used as an LM contextualizer.

        *Carried state* (truncated BPTT over contiguous text). Encoders whose `supports_state()` is True
        can be made stateful (`set_stateful(True)`, or `stateful=True` in their config): each forward
        then starts row b from the final state of row b of the previous forward (if the batch size is
        unchanged, else from zeros) and keeps its own final state, detached, for the next one.
        `reset_states()` forgets it. The carried state travels with `state_dict()` through torch's
        `get_extra_state` / `set_extra_state` hooks as one tensor (empty when there is none), so a
        checkpoint restores it and a resumed run continues exactly.

        *Incremental steps* (decoding). `step(inputs, mask, state)` continues the rows of `state` (None:
        empty prefixes) with `inputs` (B, T, H_in), right-padded as `mask` says, and returns (outputs at
        those positions, the state after them): exactly what `forward` over each row's whole prefix plus
        its new inputs gives at the new positions, (B, T, H_out) or (L, B, T, H_out), zeros where mask is
        False. Encoders whose `can_step()` is True do work proportional to the new positions only (an
        RNN carries its recurrent state, a causal transformer its keys and values). For the others the
        base class re-runs `forward` over the whole prefix (`rerun_step`): the same outputs, at a cost
        growing with the prefix, and it forgets the carried state of a stateful encoder. A stepping
        encoder neither reads nor changes the carried state.
    """

    num_layers: int = 1
    """L, the number of layers (`LanguageModel.num_layers()` reads it)."""
    return_all_layers: Optional[bool] = None
    """Whether `forward` returns every layer, (L, B, T, H_out). None: this encoder only ever returns its top
    layer; encoders that can return all of them set a bool (their `return_all_layers` argument)."""

    input_dim_key: Optional[str] = None
    """The constructor argument that is H_in (`input_size`, `input_dim`), if there is one: `lmlab check`
    compares it with the size of what feeds the encoder when the config gives both."""

    def get_input_dim(self) -> int:
        """H_in."""
        raise NotImplementedError

    def get_output_dim(self) -> int:
        """H_out (both directions together for a bidirectional encoder)."""
        raise NotImplementedError

    def is_bidirectional(self) -> bool:
        raise NotImplementedError

    def no_peeking(self) -> bool:
        """True if no output position sees inputs "ahead" of it in its direction (see the class notes)."""
        return False

    # --- carried state ---------------------------------------------------------------------------
    def supports_state(self) -> bool:
        """True if this encoder can carry its state from one forward call to the next."""
        return False

    def set_stateful(self, flag: bool) -> None:
        """Switch state carrying on or off (off also forgets the state)."""
        if flag and not self.supports_state():
            raise ValueError(f"{type(self).__name__} cannot carry its state between batches")
        if not flag:
            self.reset_states()

    def is_stateful(self) -> bool:
        return False

    def reset_states(self) -> None:
        """Forget any carried state; the next forward starts from zeros."""

    def get_extra_state(self) -> Any:
        """The carried state as one detached tensor for `state_dict()`; empty when there is none."""
        return torch.empty(0)

    def set_extra_state(self, state: Any) -> None:
        """Restore what `get_extra_state` returned (called by `load_state_dict`)."""

    # --- incremental steps -----------------------------------------------------------------------
    def can_step(self) -> bool:
        """True if `step` costs only the new positions; False if it re-runs the whole prefix (the default)."""
        return False

    def step(self, inputs: torch.Tensor, mask: torch.Tensor,
             state: Optional[StepState] = None) -> Tuple[torch.Tensor, StepState]:
        """(outputs at the new positions, state after them); see the class notes. By default `rerun_step`."""
        return rerun_step(self, inputs, mask, state)


def rerun_step(encoder: Seq2SeqEncoder, inputs: torch.Tensor, mask: torch.Tensor,
               state: Optional[StepState] = None) -> Tuple[torch.Tensor, StepState]:
    """`Seq2SeqEncoder.step` for any encoder, by running `forward` over each row's whole prefix again.

    Inputs
        inputs: (B, T, H_in);  mask: (B, T) bool, right-padded;  state: a previous `rerun_step` state or None.
    Outputs
        (B, T, H_out) or (L, B, T, H_out), zeros at padding;  state {"inputs": (B, T_all, H_in), "mask":
        (B, T_all)}: every row's inputs so far, left-aligned (padding only at the end, as `forward` needs).
    Notes
        The cost grows with the prefix (quadratic over a generation): the path of encoders that cannot
        step, and the "before" of benchmarks/predict_throughput.py. A stateful encoder's carried state is
        forgotten first, so that every row starts from zeros as a prefix does.
    """
    batch_size, timesteps, input_dim = inputs.shape
    if state is None:
        state = {"inputs": inputs.new_zeros(batch_size, 0, input_dim), "mask": mask.new_zeros(batch_size, 0)}
    lengths = state["mask"].sum(dim=1)  # (B,) real inputs so far
    positions = lengths.unsqueeze(1) + torch.arange(timesteps, device=inputs.device)  # (B, T): where new ones go
    width = int((lengths + mask.sum(dim=1)).max())  # the longest row after this step: a host-device sync
    all_inputs = torch.cat([state["inputs"], inputs.new_zeros(batch_size, timesteps, input_dim)], dim=1)
    all_inputs = all_inputs.scatter(1, positions.unsqueeze(2).expand(-1, -1, input_dim),
                                    inputs * mask.unsqueeze(2))[:, :width]  # (B, T_all, H_in)
    all_mask = torch.cat([state["mask"], mask.new_zeros(batch_size, timesteps)], dim=1)
    all_mask = all_mask.scatter(1, positions, mask)[:, :width]  # (B, T_all)
    encoder.reset_states()
    output = encoder(all_inputs, all_mask)  # (B, T_all, H_out) or (L, B, T_all, H_out)
    positions = positions.clamp(max=width - 1)  # padded new positions may lie past the longest row
    index = positions.unsqueeze(2).expand(-1, -1, output.shape[-1])  # (B, T, H_out)
    if output.dim() == 4:
        new = output.gather(2, index.unsqueeze(0).expand(output.shape[0], -1, -1, -1))  # (L, B, T, H_out)
    else:
        new = output.gather(1, index)  # (B, T, H_out)
    return new * mask.unsqueeze(-1).to(new.dtype), {"inputs": all_inputs, "mask": all_mask}


def select_rows(state: StepState, rows: torch.Tensor) -> StepState:
    """The state of rows `rows` (K,) long, in that order."""
    return {name: tensor.index_select(0, rows.to(tensor.device)) for name, tensor in state.items()}


def concatenate_states(states: Sequence[StepState]) -> StepState:
    """One state holding the rows of `states` in order; every dimension but the first zero-padded to the largest."""
    names = set(states[0])
    if any(set(state) != names for state in states):
        raise ValueError(f"cannot concatenate step states with different tensors: {[sorted(s) for s in states]}")
    merged: StepState = {}
    for name in states[0]:
        tensors = [state[name] for state in states]
        shape = [sum(tensor.shape[0] for tensor in tensors),
                 *(max(sizes) for sizes in zip(*(tensor.shape[1:] for tensor in tensors), strict=True))]
        out = tensors[0].new_zeros(shape)
        start = 0
        for tensor in tensors:
            out[(slice(start, start + tensor.shape[0]), *(slice(0, size) for size in tensor.shape[1:]))] = tensor
            start += tensor.shape[0]
        merged[name] = out
    return merged
