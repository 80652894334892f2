"""`elmo_lstm`: ELMo's biLM contextualizer (projected, clipped LSTMs; two independent directions)."""
from typing import Optional

import torch

from lmlab.common.constraints import DropoutRate, PositiveFloat, PositiveInt
from lmlab.modules.elmo.bilm import ElmoLstm
from lmlab.modules.seq2seq_encoders.seq2seq_encoder import Seq2SeqEncoder


@Seq2SeqEncoder.register("elmo_lstm")
class ElmoLstmSeq2SeqEncoder(Seq2SeqEncoder):
    """A forward and a backward stack of bilm-tf LSTM cells with projection, clipping and skip connections.

    Registered as a `Seq2SeqEncoder` with name "elmo_lstm". The contextualizer of an ELMo-style
    bidirectional language model trained from scratch; wraps `lmlab.modules.elmo.ElmoLstm`.

    Parameters
        input_size: int                  H_in, size of the token vectors (the character encoder's P).
        hidden_size: int                 C, the LSTM memory cell per direction (ELMo: 4096).
        projection_dim: int              H, the projected output and recurrent state per direction (ELMo: 512).
        num_layers: int = 2              L per direction.
        cell_clip: Optional[float] = 3.0 clip the cell to [-cell_clip, cell_clip] at every step (null: no clip).
        proj_clip: Optional[float] = 3.0 clip the projected output likewise (null: no clip).
        use_skip_connections: bool = True   add each layer's input to its output, except for layer 0.
        return_all_layers: bool = False  return every layer's output.
        dropout: float = 0.0             on the inputs of the first layer (the token vectors), in training.
    Inputs
        inputs: (B, T, H_in) float;  mask: (B, T) bool, True = token, padding only at the end of a row.
    Outputs
        (B, T, 2H): forward half then backward half of the top layer (residual included); or
        (L, B, T, 2H) with `return_all_layers`. Zeros where mask is False.
    Notes
        The cell is bilm-tf's: TensorFlow gate order [i, j, f, o], a +1 forget bias added at run time,
        no peepholes. The directions never exchange information and the backward stack reads each row
        from its own last token, so `no_peeking()` is True. No state is carried between batches (each
        call starts from zeros): sentence-level training, and the same vectors for a sentence whatever
        the batch. bilm-tf also applied dropout between layers; `ElmoLstm` has no hook for that, so only
        the input is dropped here (the language model's own `dropout` covers the top layer).
        The parameters are laid out like the bilm-tf weight file, so `lmlab.modules.elmo.export`
        writes them out directly.
    """

    input_dim_key = "input_size"

    def __init__(self, input_size: PositiveInt, hidden_size: PositiveInt, projection_dim: PositiveInt,
                 num_layers: PositiveInt = 2, cell_clip: Optional[PositiveFloat] = 3.0,
                 proj_clip: Optional[PositiveFloat] = 3.0, use_skip_connections: bool = True,
                 return_all_layers: bool = False, dropout: DropoutRate = 0.0) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.projection_dim = projection_dim
        self.num_layers = num_layers
        self.return_all_layers = return_all_layers
        self.lstm = ElmoLstm(input_size=input_size, hidden_size=projection_dim, cell_size=hidden_size,
                             num_layers=num_layers, cell_clip=cell_clip, proj_clip=proj_clip,
                             use_skip_connections=use_skip_connections, stateful=False)
        self.dropout = torch.nn.Dropout(dropout)

    def reset_parameters(self) -> None:
        self.lstm.reset_parameters()

    def get_input_dim(self) -> int:
        return self.input_size

    def get_output_dim(self) -> int:
        return 2 * self.projection_dim

    def is_bidirectional(self) -> bool:
        return True

    def no_peeking(self) -> bool:
        return True

    def forward(self, inputs: torch.Tensor, mask: torch.BoolTensor) -> torch.Tensor:
        layers = self.lstm(self.dropout(inputs), mask)  # (L, B, T, 2H), zeros at padding
        return layers if self.return_all_layers else layers[-1]  # (L, B, T, 2H) or (B, T, 2H)

    def extra_repr(self) -> str:
        return f"return_all_layers={self.return_all_layers}"
