"""`bidirectional_lm_transformer`: a causal and an anti-causal transformer stack side by side."""
from typing import Optional

import torch

from lmlab.modules.seq2seq_encoders.seq2seq_encoder import Seq2SeqEncoder
from lmlab.modules.seq2seq_encoders.transformer import TransformerStack, check_transformer_arguments


@Seq2SeqEncoder.register("bidirectional_lm_transformer")
class BidirectionalLmTransformer(Seq2SeqEncoder):
    """Two independent pre-LN transformer stacks: one reads left to right, one right to left.

    Registered as a `Seq2SeqEncoder` with name "bidirectional_lm_transformer".

    Parameters
        input_dim: int                    D, the input size and the size of each half of the output.
        num_layers: int = 2               L per direction.
        num_heads: int = 4                must divide D.
        feedforward_hidden_dim: Optional[int] = None   default 4 * D.
        dropout: float = 0.1
        positional_encoding: str = "sinusoidal"   "sinusoidal", "learned" or "none".
        max_length: int = 512             the longest T.
        return_all_layers: bool = False   return every layer's output.
    Inputs
        inputs: (B, T, D) float;  mask: (B, T) bool, True = token, padding only at the end of a row.
    Outputs
        (B, T, 2D): the forward half then the backward half; or (L, B, T, 2D) with `return_all_layers`
        (layer l of both directions side by side). Zeros where mask is False.
    Notes
        The forward half at t attends to positions <= t; the backward half to t..(last token of its
        row) and never to padding. The layers are those of "transformer" (`TransformerStack`); the
        backward stack reverses each row over its length, so it counts positions from the row's end.
        No half sees the other, at any layer: `no_peeking()` is True, as a bidirectional LM needs.
    """

    def __init__(self, input_dim: int, num_layers: int = 2, num_heads: int = 4,
                 feedforward_hidden_dim: Optional[int] = None, dropout: float = 0.1,
                 positional_encoding: str = "sinusoidal", max_length: int = 512,
                 return_all_layers: bool = False) -> None:
        super().__init__()
        check_transformer_arguments(input_dim, num_layers, num_heads, positional_encoding, max_length)
        self.input_dim = input_dim
        self.num_layers = num_layers
        self.return_all_layers = return_all_layers
        arguments = (input_dim, num_layers, num_heads, feedforward_hidden_dim or 4 * input_dim, dropout,
                     positional_encoding, max_length)
        self.forward_stack = TransformerStack(*arguments, direction="forward")
        self.backward_stack = TransformerStack(*arguments, direction="backward")

    def get_input_dim(self) -> int:
        return self.input_dim

    def get_output_dim(self) -> int:
        return 2 * self.input_dim

    def is_bidirectional(self) -> bool:
        return True

    def no_peeking(self) -> bool:
        return True

    def forward(self, inputs: torch.Tensor, mask: torch.BoolTensor) -> torch.Tensor:
        forward_output = self.forward_stack(inputs, mask, all_layers=self.return_all_layers)  # ([L,] B, T, D)
        backward_output = self.backward_stack(inputs, mask, all_layers=self.return_all_layers)  # ([L,] B, T, D)
        return torch.cat([forward_output, backward_output], dim=-1)  # ([L,] B, T, 2D)
