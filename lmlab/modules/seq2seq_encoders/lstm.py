"""`lstm` and `gru`: stacked cuDNN/ATen recurrent encoders over packed sequences, with optional carried state."""
from typing import Any, Dict, Iterator, Optional, Tuple

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lmlab.common.constraints import DropoutRate, PositiveInt
from lmlab.common.errors import ConfigurationError
from lmlab.modules.seq2seq_encoders.seq2seq_encoder import Seq2SeqEncoder, StepState
from lmlab.modules.seq2seq_encoders.stateful_encoder import StatefulEncoder
from lmlab.modules.util import zero_padding

_DOC = """Stacked {cell} over a padded batch; forward-only unless `bidirectional`.

    Registered as a `Seq2SeqEncoder` with name "{name}".

    Parameters
        input_size: int          H_in, size of each input vector.
        hidden_size: int         H per direction. Output size is 2*H if bidirectional, else H.
        num_layers: int = 1      L.
        bidirectional: bool = False
        dropout: float = 0.0     dropout between layers (torch.nn.{cell}'s `dropout`; needs L > 1).
        stateful: bool = False   carry each row's final state into the next forward (unidirectional only).
    Inputs
        inputs: (B, T, H_in) float;  mask: (B, T) bool, True = token, padding only at the end of a row.
    Outputs
        (B, T, D*H) with D = 2 if bidirectional else 1; zeros where mask is False.
    Notes
        Rows are packed (`pack_padded_sequence(enforce_sorted=False)`), so padding never enters the
        recurrence and the final state of a row is the state at its last real token. A batch without
        padding skips packing (same result, faster kernel). Either way the lengths go to the CPU: one
        host-device sync per call on GPU.
        Unidirectional: the output at t never sees positions > t (`no_peeking()` is True), the state
        can be carried, and `step` continues from an explicit state (see `Seq2SeqEncoder`). A row
        without tokens keeps its incoming state.
        Bidirectional: layer l + 1 reads both directions of layer l, so each direction of the upper
        layers sees the whole row. Fine for taggers; never use it as a bidirectional language model
        contextualizer (`no_peeking()` is False): use "bidirectional_lm_lstm".
    Example
        >>> import torch
        >>> from lmlab.modules.seq2seq_encoders import Seq2SeqEncoder
        >>> encoder = Seq2SeqEncoder.from_params({{"type": "{name}", "input_size": 4, "hidden_size": 3,
        ...                                       "bidirectional": True}})
        >>> mask = torch.tensor([[True, True, True], [True, True, False]])
        >>> outputs = encoder(torch.randn(2, 3, 4), mask)
        >>> outputs.shape, bool(outputs[1, 2].eq(0).all()), encoder.no_peeking()
        (torch.Size([2, 3, 6]), True, False)
    """


class _RecurrentEncoder(StatefulEncoder):
    """One implementation of "lstm" and "gru", parameterised by the torch module class `_rnn_class`."""

    _rnn_class: type = torch.nn.LSTM
    input_dim_key = "input_size"

    def __init__(self, input_size: PositiveInt, hidden_size: PositiveInt, num_layers: PositiveInt = 1,
                 bidirectional: bool = False, dropout: DropoutRate = 0.0, stateful: bool = False) -> None:
        super().__init__(stateful)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.rnn = self._rnn_class(input_size, hidden_size, num_layers=num_layers, bidirectional=bidirectional,
                                   dropout=dropout, batch_first=True)
        # a carried state is (S, L*D, B, H) with S = 2 (h, c) for an LSTM and 1 for a GRU

    @classmethod
    def check_arguments(cls, arguments: Dict[str, Any]) -> Iterator[ConfigurationError]:
        if arguments.get("stateful") and arguments.get("bidirectional"):
            yield ConfigurationError("a bidirectional encoder cannot carry state (stateful=true needs "
                                     "bidirectional=false)", "stateful")

    def reset_parameters(self) -> None:
        self.rnn.reset_parameters()

    def get_input_dim(self) -> int:
        return self.input_size

    def get_output_dim(self) -> int:
        return self.hidden_size * (2 if self.bidirectional else 1)

    def is_bidirectional(self) -> bool:
        return self.bidirectional

    def no_peeking(self) -> bool:
        return not self.bidirectional

    # --- carried state ---------------------------------------------------------------------------
    def supports_state(self) -> bool:
        return not self.bidirectional

    # --- incremental steps -----------------------------------------------------------------------
    def can_step(self) -> bool:
        return not self.bidirectional

    def step(self, inputs: torch.Tensor, mask: torch.Tensor,
             state: Optional[StepState] = None) -> Tuple[torch.Tensor, StepState]:
        """State {"hidden": (B, S, L, H)}: every row's recurrent state (h, and c for an LSTM) after its prefix."""
        if self.bidirectional:  # the backward direction needs the whole row: the base class re-runs it
            return super().step(inputs, mask, state)
        initial = None if state is None else state["hidden"].permute(1, 2, 0, 3)  # (S, L, B, H)
        if initial is not None and inputs.shape[1] == 1 and not (self.training and self.rnn.dropout) \
                and bool(mask.all()):
            output, final = self._cell_step(inputs[:, 0], initial)  # a decoding step: one token in every row
        else:
            output, final = self.run(inputs, mask, initial)
        return output, {"hidden": final.permute(2, 0, 1, 3)}  # (B, S, L, H)

    def _cell_step(self, inputs: torch.Tensor, initial: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(output (B, 1, H), final state (S, L, B, H)) of one token per row (B, H_in), layer by layer through
        `torch.lstm_cell` / `gru_cell` on `self.rnn`'s weights: what `self.rnn` computes for one step (no
        dropout), at a fraction of its cost on CPU, where the fused oneDNN call re-lays out every weight
        matrix on each call (about 1 ms for two layers of 200, several times the step's arithmetic)."""
        layer_input, finals = inputs, []
        for layer, weights in enumerate(self.rnn.all_weights):  # [w_ih, w_hh(, b_ih, b_hh)] per layer
            if initial.shape[0] == 2:
                h, c = torch.lstm_cell(layer_input, (initial[0, layer], initial[1, layer]), *weights)  # (B, H)
                finals.append(torch.stack([h, c]))  # (2, B, H)
            else:
                h = torch.gru_cell(layer_input, initial[0, layer], *weights)  # (B, H)
                finals.append(h.unsqueeze(0))  # (1, B, H)
            layer_input = h
        return layer_input.unsqueeze(1), torch.stack(finals, dim=1)  # (B, 1, H), (S, L, B, H)

    def run(self, inputs: torch.Tensor, mask: torch.Tensor,
            initial: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """(output (B, T, D*H) with zeros at padding, final state (S, L*D, B, H)) from `initial` (None: zeros);
        a row without tokens keeps its initial state."""
        batch_size, timesteps, _ = inputs.shape
        lengths = mask.sum(dim=1)  # (B,)
        lengths_cpu = lengths.cpu()  # packing needs them on the CPU anyway: the one sync of this call
        if bool((lengths_cpu == timesteps).all()):
            # no padding (contiguous bptt windows, decoding steps): the unpacked kernel is markedly faster on CPU
            output, final = self.rnn(inputs, self._unstack(initial))  # (B, T, D*H)
        else:
            # pack_padded_sequence refuses empty rows: give them length 1 and zero their output below
            packed = pack_padded_sequence(inputs, lengths_cpu.clamp(min=1), batch_first=True, enforce_sorted=False)
            packed_output, final = self.rnn(packed, self._unstack(initial))
            output, _ = pad_packed_sequence(packed_output, batch_first=True, total_length=timesteps)  # (B, T, D*H)
        final_state = torch.stack(final) if isinstance(final, tuple) else final.unsqueeze(0)  # (S, L*D, B, H)
        if initial is None:
            initial = torch.zeros_like(final_state)
        has_tokens = (lengths > 0).view(1, 1, batch_size, 1)  # (1, 1, B, 1)
        return zero_padding(output, mask), torch.where(has_tokens, final_state, initial)

    def _unstack(self, state: Optional[torch.Tensor]) -> Any:
        """The (S, L*D, B, H) state in the form torch.nn.LSTM / GRU take: (h, c) or h."""
        if state is None:
            return None
        return (state[0].contiguous(), state[1].contiguous()) if state.shape[0] == 2 else state[0].contiguous()

    def extra_repr(self) -> str:
        return f"stateful={self.is_stateful()}"


@Seq2SeqEncoder.register("lstm")
class LstmSeq2SeqEncoder(_RecurrentEncoder):
    __doc__ = _DOC.format(cell="LSTM", name="lstm")
    _rnn_class = torch.nn.LSTM


@Seq2SeqEncoder.register("gru")
class GruSeq2SeqEncoder(_RecurrentEncoder):
    __doc__ = _DOC.format(cell="GRU", name="gru")
    _rnn_class = torch.nn.GRU
