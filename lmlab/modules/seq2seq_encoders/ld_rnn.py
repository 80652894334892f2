"""`ld_rnn`: `dense_rnn` with layer-wise dropout (LD-Net's `LDRNN`, Liu et al., EMNLP 2018)."""
from typing import Optional

import torch

from lmlab.common.constraints import DropoutRate, PositiveInt
from lmlab.modules.seq2seq_encoders.dense_rnn import DenseRnn
from lmlab.modules.seq2seq_encoders.rnn_stack import Unit
from lmlab.modules.seq2seq_encoders.seq2seq_encoder import Seq2SeqEncoder


@Seq2SeqEncoder.register("ld_rnn")
class LdRnn(DenseRnn):
    """Densely connected recurrent layers whose outputs are dropped, whole, on the way up during training.

    Registered as a `Seq2SeqEncoder` with name "ld_rnn".

    Parameters
        input_size, hidden_size, num_layers, unit, dropout, stateful, return_all_layers: as "dense_rnn".
        layer_dropout: float = 0.5   in training, each layer's output is replaced by zeros, with this
                                     probability, on the path that later layers read.
    Inputs
        inputs: (B, T, I) float;  mask: (B, T) bool, True = token, padding only at the end of a row.
    Outputs
        As "dense_rnn": (B, T, I + L*H) = [input, layer_1, ..., layer_L] gated, or (L, B, T, H) with
        `return_all_layers`. Zeros where mask is False.
    Attributes
        As "dense_rnn" (gates, `prune_layers`, `set_gates_trainable`), plus `layer_dropout`.
    Notes
        One Bernoulli draw per layer per forward call (so per batch, shared by every row and position),
        from the global generator on the inputs' device, without a host-device sync. As in LD-Net the
        surviving outputs are not rescaled, and the output path (what the softmax or a tagger reads)
        always carries every layer's real output: later layers learn not to rely on any single earlier
        layer, which is what lets pruning remove layers afterwards. In `eval()` nothing is dropped.
    Example
        >>> import torch
        >>> from lmlab.modules.seq2seq_encoders import Seq2SeqEncoder
        >>> encoder = Seq2SeqEncoder.from_params({"type": "ld_rnn", "input_size": 4, "hidden_size": 3,
        ...                                       "num_layers": 2, "return_all_layers": True})
        >>> encoder(torch.randn(2, 5, 4), torch.ones(2, 5, dtype=torch.bool)).shape  # (L, B, T, H)
        torch.Size([2, 2, 5, 3])
    """

    def __init__(self, input_size: PositiveInt, hidden_size: PositiveInt, num_layers: PositiveInt = 1,
                 unit: Unit = "lstm", dropout: DropoutRate = 0.0, stateful: bool = False,
                 return_all_layers: bool = False, layer_dropout: DropoutRate = 0.5) -> None:
        super().__init__(input_size, hidden_size, num_layers, unit, dropout, stateful, return_all_layers)
        self.layer_dropout = layer_dropout

    def _upward_scales(self, reference: torch.Tensor) -> Optional[torch.Tensor]:
        if not self.training or self.layer_dropout == 0.0:
            return None
        draws = torch.rand(self.num_layers, device=reference.device)  # (L,)
        return (draws >= self.layer_dropout).to(reference.dtype)  # 1 = kept, 0 = dropped

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, layer_dropout={self.layer_dropout}"
