"""`dense_rnn`: densely connected recurrent layers (LD-Net's `DenseRNN`), with per-layer gates and pruning."""
from typing import List, Sequence, cast

import torch

from lmlab.common.constraints import DropoutRate, PositiveInt
from lmlab.modules.seq2seq_encoders.rnn_stack import RnnStack, Unit
from lmlab.modules.seq2seq_encoders.seq2seq_encoder import Seq2SeqEncoder


@Seq2SeqEncoder.register("dense_rnn")
class DenseRnn(RnnStack):
    """Layer l reads the input and the outputs of all earlier layers; the output is all of them side by side.

    Registered as a `Seq2SeqEncoder` with name "dense_rnn".

    Parameters
        input_size: int              I.
        hidden_size: int             H, the width each layer adds.
        num_layers: int = 1          L.
        unit: "lstm" | "gru" = "lstm"
        dropout: float = 0.0         on the input of every layer above the first (what layer l > 0 reads).
        stateful: bool = False       carry each row's final state into the next forward.
        return_all_layers: bool = False
    Inputs
        inputs: (B, T, I) float;  mask: (B, T) bool, True = token, padding only at the end of a row.
    Outputs
        (B, T, I + L*H): [input, layer_1, ..., layer_L] concatenated, each layer gated (`get_output_dim()`);
        or (L, B, T, H) with `return_all_layers`: every layer's gated output, bottom first.
        Zeros where mask is False.
    Attributes
        input_size (I), hidden_size (H), num_layers (L);  layers: ModuleList of `RnnLayer`, layer l reading
        I + l*H columns [input, layer_1, ..., layer_l];  gates: (L,) float, a buffer of ones by default:
        layer l's output is multiplied by gates[l] everywhere it is read (the inputs of later layers and
        the output). `set_gates_trainable(True)` makes it a Parameter with the same values and the same
        `state_dict` key ("gates"), and False a buffer again, so checkpoints load either way.
    Notes
        `prune_layers(keep)` removes layers (see there). Carried state, `run` with an explicit state and
        packing: see `RnnStack`. The output at t never depends on inputs after t (`no_peeking()`).
    """

    def __init__(self, input_size: PositiveInt, hidden_size: PositiveInt, num_layers: PositiveInt = 1,
                 unit: Unit = "lstm", dropout: DropoutRate = 0.0, stateful: bool = False,
                 return_all_layers: bool = False) -> None:
        super().__init__(input_size, hidden_size, num_layers, unit, dropout, stateful, return_all_layers)

    def _layer_input_size(self, layer: int) -> int:
        return self.input_size + layer * self.hidden_size

    def _layer_input(self, inputs: torch.Tensor, below: List[torch.Tensor]) -> torch.Tensor:
        return torch.cat([inputs, *below], dim=-1) if below else inputs  # (B, T, I + l*H)

    def get_output_dim(self) -> int:
        return self.input_size + self.num_layers * self.hidden_size

    def _output(self, inputs: torch.Tensor, outputs: List[torch.Tensor]) -> torch.Tensor:
        return torch.cat([inputs, *outputs], dim=-1)  # (B, T, I + L*H)

    def prune_layers(self, keep: Sequence[int]) -> torch.LongTensor:
        """Remove every layer whose 0-based index is not in `keep`; return the kept output columns.

        Each remaining layer keeps its weights for the input columns that remain (the input and the
        remaining earlier layers), so if the removed layers' gates were 0 the pruned encoder computes
        exactly the old output restricted to the returned columns. `num_layers`, `gates` (still a
        Parameter if it was one) and any carried state shrink accordingly; build a new optimizer
        afterwards.

        Returns
            (I + len(keep) * H,) long, increasing: indices into the OLD output dimension (I + L*H) of the
            columns that remain, in order. Slice the input columns of whatever reads the output with it.
        """
        kept = sorted(set(keep))
        if len(kept) != len(keep) or any(not 0 <= layer < self.num_layers for layer in kept):
            raise ValueError(f"keep must list distinct layer indices in [0, {self.num_layers}), found {list(keep)}")
        hidden = self.hidden_size
        columns = torch.cat([torch.arange(self.input_size)]
                            + [torch.arange(self.input_size + layer * hidden, self.input_size + (layer + 1) * hidden)
                               for layer in kept])  # (I + K*H,)
        for position, layer in enumerate(kept):
            # layer `layer` read [input, every earlier layer]; what remains of that is the first I + position*H
            # of the kept columns, because the kept layers below it are exactly the first `position`
            self.rnn_layers()[layer].select_inputs(columns[:self.input_size + position * hidden])
        self.layers = torch.nn.ModuleList(self.layers[layer] for layer in kept)
        index = torch.tensor(kept, dtype=torch.long, device=self.gates.device)
        values = self.gates.detach()[index].clone()
        trainable = isinstance(self.gates, torch.nn.Parameter)
        del self.gates
        self.register_buffer("gates", values)
        self.set_gates_trainable(trainable)
        if self._state is not None:
            self._state = self._state[index.to(self._state.device)]
        self.num_layers = len(kept)
        return cast(torch.LongTensor, columns)
