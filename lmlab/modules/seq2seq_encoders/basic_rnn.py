"""`basic_rnn`: a stack of single-layer LSTMs or GRUs, each layer reading the gated output of the one below."""
from typing import List

import torch

from lmlab.common.constraints import DropoutRate, PositiveInt
from lmlab.modules.seq2seq_encoders.rnn_stack import RnnStack, Unit
from lmlab.modules.seq2seq_encoders.seq2seq_encoder import Seq2SeqEncoder


@Seq2SeqEncoder.register("basic_rnn")
class BasicRnn(RnnStack):
    """L single-layer recurrent units in a chain (LD-Net's `BasicRNN`), with one gate per layer.

    Registered as a `Seq2SeqEncoder` with name "basic_rnn".

    Parameters
        input_size: int              I.
        hidden_size: int             H.
        num_layers: int = 1          L.
        unit: "lstm" | "gru" = "lstm"
        dropout: float = 0.0         on the input of every layer above the first (between layers).
        stateful: bool = False       carry each row's final state into the next forward.
        return_all_layers: bool = False
    Inputs
        inputs: (B, T, I) float;  mask: (B, T) bool, True = token, padding only at the end of a row.
    Outputs
        (B, T, H): the top layer's gated output; or (L, B, T, H) with `return_all_layers`, every layer's
        gated output, bottom first. Zeros where mask is False.
    Attributes
        gates: (L,) float, ones by default: layer l's output is multiplied by gates[l] where layer l + 1
        reads it and in the output. `set_gates_trainable(True)` makes it a Parameter.
    Notes
        Computes what "lstm" / "gru" with the same L compute (torch runs the same kernels layer by layer),
        but keeps every layer as its own module with an explicit state (see `RnnStack`), which is what
        gating, returning every layer and stepping need. The output at t never depends on inputs after t.
    """

    def __init__(self, input_size: PositiveInt, hidden_size: PositiveInt, num_layers: PositiveInt = 1,
                 unit: Unit = "lstm", dropout: DropoutRate = 0.0, stateful: bool = False,
                 return_all_layers: bool = False) -> None:
        super().__init__(input_size, hidden_size, num_layers, unit, dropout, stateful, return_all_layers)

    def _layer_input_size(self, layer: int) -> int:
        return self.input_size if layer == 0 else self.hidden_size

    def _layer_input(self, inputs: torch.Tensor, below: List[torch.Tensor]) -> torch.Tensor:
        return below[-1] if below else inputs

    def get_output_dim(self) -> int:
        return self.hidden_size

    def _output(self, inputs: torch.Tensor, outputs: List[torch.Tensor]) -> torch.Tensor:
        return outputs[-1]
