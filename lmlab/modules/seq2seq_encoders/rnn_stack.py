"""`RnnLayer` and `RnnStack`: the machinery shared by "basic_rnn", "dense_rnn" and "ld_rnn".

A stack is a list of single-layer recurrent units (`RnnLayer`), each with an explicit state, plus
per-layer gates and carried state. The three registered encoders differ only in what layer l reads
(the layer below, or the input and every layer below) and what the stack outputs.
"""
from typing import List, Literal, Optional, Tuple, cast

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lmlab.common.constraints import DropoutRate, PositiveInt
from lmlab.modules.seq2seq_encoders.seq2seq_encoder import StepState
from lmlab.modules.seq2seq_encoders.stateful_encoder import StatefulEncoder
from lmlab.modules.util import zero_padding

Unit = Literal["lstm", "gru"]
_UNITS = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}


class RnnLayer(torch.nn.Module):
    """One left-to-right LSTM or GRU layer whose state is passed in and returned (no hidden attributes).

    Not registered: the building block of `RnnStack`. Stepping one token at a time is a call with T = 1
    and the state of the previous call.

    Parameters
        unit: "lstm" | "gru";  input_size: int (I);  hidden_size: int (H).
    Inputs
        inputs: (B, T, I) float;  state: (S, B, H) or None (zeros), S = 2 for an LSTM (h, c), 1 for a GRU;
        lengths: (B,) long on the CPU, or None when no row has padding. Rows must have length >= 1.
    Outputs
        outputs: (B, T, H), zeros after each row's length;  final state: (S, B, H), each row's state
        after its last real token.
    """

    def __init__(self, unit: Unit, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.unit = unit
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.rnn = _UNITS[unit](input_size, hidden_size, batch_first=True)

    @property
    def state_size(self) -> int:
        """S: tensors in the state (2 for an LSTM, 1 for a GRU)."""
        return 2 if self.unit == "lstm" else 1

    def reset_parameters(self) -> None:
        self.rnn.reset_parameters()

    def forward(self, inputs: torch.Tensor, state: Optional[torch.Tensor] = None,
                lengths: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        initial = None
        if state is not None:
            initial = (state[0].unsqueeze(0).contiguous(), state[1].unsqueeze(0).contiguous()) \
                if self.unit == "lstm" else state.contiguous()  # (1, B, H) each: torch's (layers, B, H)
        if lengths is None:
            outputs, final = self.rnn(inputs, initial)  # (B, T, H)
        else:
            packed = pack_padded_sequence(inputs, lengths, batch_first=True, enforce_sorted=False)
            packed_outputs, final = self.rnn(packed, initial)
            outputs, _ = pad_packed_sequence(packed_outputs, batch_first=True, total_length=inputs.shape[1])
        final_state = torch.cat(final) if isinstance(final, tuple) else final  # (S, B, H)
        return outputs, final_state

    def select_inputs(self, columns: torch.Tensor) -> None:
        """Keep only the input columns `columns` (K,) long: the layer then reads (B, T, K) inputs and
        computes exactly what it computed before when the dropped columns were zero."""
        old = self.rnn
        new = _UNITS[self.unit](len(columns), self.hidden_size, batch_first=True).to(
            device=old.weight_ih_l0.device, dtype=old.weight_ih_l0.dtype)
        with torch.no_grad():
            new.weight_ih_l0.copy_(old.weight_ih_l0[:, columns.to(old.weight_ih_l0.device)])
            for name in ("weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
                getattr(new, name).copy_(getattr(old, name))
        self.rnn = new
        self.input_size = len(columns)

    def extra_repr(self) -> str:
        return f"unit={self.unit!r}"


class RnnStack(StatefulEncoder):
    """Base of the stacked recurrent encoders: layers, gates, dropout, carried state and the forward loop.

    Not registered. Subclasses say what layer l reads (`_layer_input_size`, `_layer_input`) and what the
    stack returns (`get_output_dim`, `_output`).

    Parameters
        input_size: int      I.
        hidden_size: int     H, every layer's output size.
        num_layers: int      L >= 1.
        unit: "lstm" | "gru"
        dropout: float       on the input of every layer above the first (during training).
        stateful: bool       carry each row's final state into the next forward (see `Seq2SeqEncoder`).
        return_all_layers: bool   return (L, B, T, H), every layer's gated output.
    Inputs
        inputs: (B, T, I) float;  mask: (B, T) bool, True = token, padding only at the end of a row.
    Outputs
        the subclass's (B, T, H_out), or (L, B, T, H) with `return_all_layers`; zeros at padding.
    Attributes
        layers: ModuleList of `RnnLayer`;  gates: (L,) float, a buffer of ones (see `set_gates_trainable`):
        layer l's output is multiplied by gates[l] everywhere it is read (by later layers and in the
        output).
    Notes
        Carried state: one (L, S, B, H) tensor (S = 2 for an LSTM, 1 for a GRU), kept detached and saved
        through `get_extra_state`. A row without tokens keeps its incoming state. `run(inputs, mask, state)`
        is the same computation with the state passed in and returned; `step` wraps it for incremental
        decoding (see `Seq2SeqEncoder`).
        Padding: rows are packed only when some row is shorter than T (contiguous LM windows are not),
        which needs the lengths on the CPU: one host-device sync per call on GPU.
    """

    gates: torch.Tensor
    input_dim_key = "input_size"

    def __init__(self, input_size: PositiveInt, hidden_size: PositiveInt, num_layers: PositiveInt, unit: Unit,
                 dropout: DropoutRate, stateful: bool, return_all_layers: bool) -> None:
        super().__init__(stateful)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.unit = unit
        self.return_all_layers = return_all_layers
        self.dropout = torch.nn.Dropout(dropout)
        self.layers = torch.nn.ModuleList(RnnLayer(unit, self._layer_input_size(layer), hidden_size)
                                          for layer in range(num_layers))
        self.register_buffer("gates", torch.ones(num_layers))
        # a carried state is (L, S, B, H)

    # --- what subclasses define ------------------------------------------------------------------
    def _layer_input_size(self, layer: int) -> int:
        raise NotImplementedError

    def _layer_input(self, inputs: torch.Tensor, below: List[torch.Tensor]) -> torch.Tensor:
        """What the next layer reads, from the (padding-zeroed) inputs and what earlier layers pass up."""
        raise NotImplementedError

    def _output(self, inputs: torch.Tensor, outputs: List[torch.Tensor]) -> torch.Tensor:
        """The stack's output from the inputs and every layer's gated output."""
        raise NotImplementedError

    def _upward_scales(self, reference: torch.Tensor) -> Optional[torch.Tensor]:
        """(L,) factors applied to each layer's output on the path later layers read (None: all ones)."""
        return None

    # --- gates -------------------------------------------------------------------------------------
    def set_gates_trainable(self, flag: bool) -> None:
        """Make `gates` a trainable `Parameter` (flag True) or a buffer again, keeping its values; its
        `state_dict` key is "gates" either way. Build the optimizer after switching it on."""
        if flag == isinstance(self.gates, torch.nn.Parameter):
            return
        values = self.gates.detach().clone()
        del self.gates
        if flag:
            self.gates = torch.nn.Parameter(values)
        else:
            self.register_buffer("gates", values)

    # --- Seq2SeqEncoder ----------------------------------------------------------------------------
    def rnn_layers(self) -> List[RnnLayer]:
        """The layers, bottom first (typed view of `layers`)."""
        return [cast(RnnLayer, layer) for layer in self.layers]

    def reset_parameters(self) -> None:
        for layer in self.rnn_layers():
            layer.reset_parameters()

    def get_input_dim(self) -> int:
        return self.input_size

    def is_bidirectional(self) -> bool:
        return False

    def no_peeking(self) -> bool:
        return True

    def can_step(self) -> bool:
        return True

    def step(self, inputs: torch.Tensor, mask: torch.Tensor,
             state: Optional[StepState] = None) -> Tuple[torch.Tensor, StepState]:
        """`run` from an explicit state; state {"hidden": (B, L, S, H)}, every layer's state after each row's prefix."""
        initial = None if state is None else state["hidden"].permute(1, 2, 0, 3)  # (L, S, B, H)
        output, final = self.run(inputs, cast(torch.BoolTensor, mask), initial)
        return output, {"hidden": final.permute(2, 0, 1, 3)}  # (B, L, S, H)

    # --- forward -----------------------------------------------------------------------------------
    def run(self, inputs: torch.Tensor, mask: torch.BoolTensor,
            state: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """(output as `forward` returns it, final state (L, S, B, H)) starting from `state` (L, S, B, H),
        or zeros when None."""
        batch_size, timesteps, _ = inputs.shape
        lengths = mask.sum(dim=1)  # (B,)
        lengths_cpu = lengths.cpu()  # the one host-device sync of this call
        # pack_padded_sequence refuses empty rows: give them length 1; their output is zeroed below
        packed_lengths = None if bool((lengths_cpu == timesteps).all()) else lengths_cpu.clamp(min=1)
        inputs = zero_padding(inputs, mask)
        scales = self._upward_scales(inputs)
        below: List[torch.Tensor] = []  # what each layer passes up (its gated output, maybe layer-dropped)
        outputs: List[torch.Tensor] = []  # each layer's gated output, as the stack returns it
        finals = []
        for index, layer in enumerate(self.rnn_layers()):
            layer_input = self._layer_input(inputs, below)
            if index > 0:
                layer_input = self.dropout(layer_input)
            output, final = layer(layer_input, None if state is None else state[index], packed_lengths)
            gated = zero_padding(output, mask) * self.gates[index]  # (B, T, H)
            outputs.append(gated)
            below.append(gated if scales is None else gated * scales[index])
            finals.append(final)
        final_state = self._keep_state_of_empty_rows(finals, state, lengths, inputs)
        if self.return_all_layers:
            return (torch.stack(outputs) if outputs else
                    inputs.new_zeros(0, batch_size, timesteps, self.hidden_size)), final_state  # (L, B, T, H)
        return self._output(inputs, outputs), final_state

    def _keep_state_of_empty_rows(self, finals: List[torch.Tensor], state: Optional[torch.Tensor],
                                  lengths: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """(L, S, B, H) final state in which rows without tokens keep `state` (zeros when None)."""
        batch_size = inputs.shape[0]
        if not finals:
            return inputs.new_zeros(0, 2 if self.unit == "lstm" else 1, batch_size, self.hidden_size)
        final = torch.stack(finals)  # (L, S, B, H)
        previous = state if state is not None else torch.zeros_like(final)
        return torch.where((lengths > 0).view(1, 1, batch_size, 1), final, previous)

    def extra_repr(self) -> str:
        return f"unit={self.unit!r}, stateful={self.is_stateful()}, return_all_layers={self.return_all_layers}"
