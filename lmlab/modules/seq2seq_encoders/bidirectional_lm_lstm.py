"""`bidirectional_lm_lstm`: two independent LSTM stacks, left-to-right and right-to-left (ELMo-style)."""
from typing import Any, Dict, Iterator, List, Optional, cast

import torch

from lmlab.common.constraints import PositiveInt, Probability
from lmlab.common.errors import ConfigurationError
from lmlab.modules.seq2seq_encoders.seq2seq_encoder import Seq2SeqEncoder
from lmlab.modules.util import reverse_padded_rows, zero_padding


@Seq2SeqEncoder.register("bidirectional_lm_lstm")
class BidirectionalLmLstm(Seq2SeqEncoder):
    """A forward and a backward stack of unidirectional LSTMs that never see each other.

    Registered as a `Seq2SeqEncoder` with name "bidirectional_lm_lstm".

    Parameters
        input_size: int                   H_in.
        hidden_size: int                  LSTM cell size per direction.
        num_layers: int = 1               L per direction.
        projection_dim: Optional[int] = None   P; each layer projects its hidden state to P
                                          (`torch.nn.LSTM(proj_size=P)`). H = P if given, else hidden_size.
        dropout: float = 0.0              on the input of every layer above the first.
        use_skip_connections: bool = False    add each layer's input to its output (layers above the first).
        return_all_layers: bool = False   return every layer's output.
    Inputs
        inputs: (B, T, H_in) float;  mask: (B, T) bool, True = token, padding only at the end of a row.
    Outputs
        (B, T, 2H): forward half then backward half; or (L, B, T, 2H) with `return_all_layers`
        (layer l of both directions side by side, no dropout). Zeros where mask is False.
    Notes
        The backward stack reads every row from its own last real token to its first: the rows are
        reversed over their lengths with one `gather` (no loop over rows), run through the same kind of
        causal LSTM, and reversed back. Padding then always comes after the real tokens in reading
        order, so it never reaches a real output and no packing (and no host-device sync) is needed.
        The forward half at t depends only on inputs <= t, the backward half only on inputs >= t:
        `no_peeking()` is True. The state is not carried between batches.
    """

    input_dim_key = "input_size"

    def __init__(self, input_size: PositiveInt, hidden_size: PositiveInt, num_layers: PositiveInt = 1,
                 projection_dim: Optional[PositiveInt] = None, dropout: Probability = 0.0,
                 use_skip_connections: bool = False, return_all_layers: bool = False) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.projection_dim = projection_dim
        self.use_skip_connections = use_skip_connections
        self.return_all_layers = return_all_layers
        self._layer_dim = projection_dim or hidden_size
        self.dropout = torch.nn.Dropout(dropout)
        self.forward_layers = self._make_stack()
        self.backward_layers = self._make_stack()

    @classmethod
    def check_arguments(cls, arguments: Dict[str, Any]) -> Iterator[ConfigurationError]:
        projection_dim, hidden_size = arguments.get("projection_dim"), arguments.get("hidden_size")
        if projection_dim is not None and hidden_size is not None and projection_dim >= hidden_size:
            yield ConfigurationError(f"must be below hidden_size ({hidden_size}), found {projection_dim}",
                                     "projection_dim")

    def _make_stack(self) -> torch.nn.ModuleList:
        return torch.nn.ModuleList(
            torch.nn.LSTM(self.input_size if layer == 0 else self._layer_dim, self.hidden_size,
                          proj_size=self.projection_dim or 0, batch_first=True)
            for layer in range(self.num_layers))

    def reset_parameters(self) -> None:
        for lstm in cast(List[torch.nn.LSTM], [*self.forward_layers, *self.backward_layers]):
            lstm.reset_parameters()

    def get_input_dim(self) -> int:
        return self.input_size

    def get_output_dim(self) -> int:
        return 2 * self._layer_dim

    def is_bidirectional(self) -> bool:
        return True

    def no_peeking(self) -> bool:
        return True

    def forward(self, inputs: torch.Tensor, mask: torch.BoolTensor) -> torch.Tensor:
        lengths = mask.sum(dim=1)  # (B,)
        forward_layers = self._run_stack(self.forward_layers, inputs, mask)  # L x (B, T, H)
        reversed_inputs = reverse_padded_rows(inputs, lengths)  # (B, T, H_in), row b read from its end
        backward_layers = self._run_stack(self.backward_layers, reversed_inputs, mask)  # L x (B, T, H)
        if self.return_all_layers:
            backward = reverse_padded_rows(torch.stack(backward_layers, dim=2), lengths)  # (B, T, L, H)
            both = torch.cat([torch.stack(forward_layers, dim=2), backward], dim=-1)  # (B, T, L, 2H)
            return both.permute(2, 0, 1, 3)  # (L, B, T, 2H)
        backward = reverse_padded_rows(backward_layers[-1], lengths)  # (B, T, H)
        return torch.cat([forward_layers[-1], backward], dim=-1)  # (B, T, 2H)

    def _run_stack(self, layers: torch.nn.ModuleList, inputs: torch.Tensor,
                   mask: torch.BoolTensor) -> List[torch.Tensor]:
        """Every layer's output of one causal (left-to-right) stack, zeros at padding."""
        outputs = []
        current = inputs
        for index, lstm in enumerate(layers):
            layer_input = self.dropout(current) if index > 0 else current
            output, _ = lstm(layer_input)  # (B, T, H)
            if self.use_skip_connections and index > 0:
                output = output + current
            current = zero_padding(output, mask)
            outputs.append(current)
        return outputs

    def extra_repr(self) -> str:
        return f"use_skip_connections={self.use_skip_connections}, return_all_layers={self.return_all_layers}"
