"""`bidirectional_lm_transformer`: a causal and an anti-causal transformer stack side by side."""
from lmlab.modules.seq2seq_encoders.seq2seq_encoder import Seq2SeqEncoder
from lmlab.modules.seq2seq_encoders.transformer import CausalTransformerEncoder


@Seq2SeqEncoder.register("bidirectional_lm_transformer")
class BidirectionalLmTransformer(CausalTransformerEncoder):
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

    directions = ("forward", "backward")
