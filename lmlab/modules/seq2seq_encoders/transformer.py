"""`transformer`: a causal pre-LN transformer encoder, plus the direction-parameterised stack it is built on.

`TransformerStack` is the one implementation of the layers; "transformer" uses a forward stack and
"bidirectional_lm_transformer" a forward and a backward one. A backward stack reverses each row over
its own length, runs the same causal layers, and reverses back: position t then attends to t..end of
its own row, and never to padding, while the attention still uses the fast `is_causal=True` kernels.
A forward stack can also `step`: it keeps every layer's keys and values, so new positions attend to
the cached ones instead of recomputing the prefix.
"""
import math
from typing import Any, Dict, Iterator, List, Literal, Optional, Tuple, cast

import torch
from torch.nn import functional as F

from lmlab.common.constraints import DropoutRate, PositiveInt
from lmlab.common.errors import ConfigurationError
from lmlab.modules.seq2seq_encoders.seq2seq_encoder import Seq2SeqEncoder, StepState
from lmlab.modules.util import reverse_padded_rows, zero_padding

PositionalEncoding = Literal["sinusoidal", "learned", "none"]
"""What is added to the input: fixed sin/cos encodings, a learned table, or nothing."""

Direction = Literal["forward", "backward"]
"""Reading order of a `TransformerStack`."""


class CausalSelfAttention(torch.nn.Module):
    """Multi-head self-attention where position t attends to positions <= t (SDPA, `is_causal=True`)."""

    def __init__(self, dim: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.dropout = dropout
        self.qkv = torch.nn.Linear(dim, 3 * dim)
        self.output = torch.nn.Linear(dim, dim)
        self.output_dropout = torch.nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self._heads(x)  # 3 x (B, nh, T, hs)
        # right padding: a real position only attends to earlier (real) positions; a padded one
        # attends at least to itself, so no row of the attention is empty (no NaN)
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0,
                                           is_causal=True)  # (B, nh, T, hs)
        return self._merge_heads(y)

    def step(self, x: torch.Tensor, past_keys: torch.Tensor, past_values: torch.Tensor,
             past_mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`forward` for new positions x (B, T, D) after cached keys/values (B, nh, T_c, hs) whose real
        positions `past_mask` (B, T_c) marks; returns (output (B, T, D), keys and values (B, nh, T_c + T, hs))."""
        timesteps = x.shape[1]
        q, k, v = self._heads(x)  # 3 x (B, nh, T, hs)
        keys, values = torch.cat([past_keys, k], dim=2), torch.cat([past_values, v], dim=2)  # (B, nh, T_c + T, hs)
        # a new position sees the real cached ones and, among the new ones, itself and those before it
        # (right padding: all real for a real position; a padded one sees itself at least, so no NaN)
        causal = torch.ones(timesteps, timesteps, dtype=torch.bool, device=x.device).tril()  # (T, T)
        allowed = torch.cat([past_mask.unsqueeze(1).expand(-1, timesteps, -1),
                             causal.expand(x.shape[0], -1, -1)], dim=2).unsqueeze(1)  # (B, 1, T, T_c + T)
        y = F.scaled_dot_product_attention(q, keys, values, attn_mask=allowed,
                                           dropout_p=self.dropout if self.training else 0.0)  # (B, nh, T, hs)
        return self._merge_heads(y), keys, values

    def _heads(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        batch_size, timesteps, dim = x.shape
        head_size = dim // self.num_heads
        q, k, v = self.qkv(x).split(dim, dim=2)  # 3 x (B, T, D)
        q = q.view(batch_size, timesteps, self.num_heads, head_size).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(batch_size, timesteps, self.num_heads, head_size).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(batch_size, timesteps, self.num_heads, head_size).transpose(1, 2)  # (B, nh, T, hs)
        return q, k, v

    def _merge_heads(self, y: torch.Tensor) -> torch.Tensor:
        batch_size, _, timesteps, head_size = y.shape
        y = y.transpose(1, 2).contiguous().view(batch_size, timesteps, self.num_heads * head_size)  # (B, T, D)
        return self.output_dropout(self.output(y))


class TransformerBlock(torch.nn.Module):
    """Pre-LN block: `x + attn(ln(x))`, then `x + ffn(ln(x))` with a GELU feed-forward layer."""

    def __init__(self, dim: int, num_heads: int, feedforward_hidden_dim: int, dropout: float) -> None:
        super().__init__()
        self.attention_norm = torch.nn.LayerNorm(dim)
        self.attention = CausalSelfAttention(dim, num_heads, dropout)
        self.feedforward_norm = torch.nn.LayerNorm(dim)
        self.feedforward = torch.nn.Sequential(
            torch.nn.Linear(dim, feedforward_hidden_dim), torch.nn.GELU(),
            torch.nn.Linear(feedforward_hidden_dim, dim), torch.nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.attention_norm(x))
        return x + self.feedforward(self.feedforward_norm(x))

    def step(self, x: torch.Tensor, past_keys: torch.Tensor, past_values: torch.Tensor,
             past_mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`forward` for new positions after cached keys and values (see `CausalSelfAttention.step`)."""
        attended, keys, values = self.attention.step(self.attention_norm(x), past_keys, past_values, past_mask)
        x = x + attended
        return x + self.feedforward(self.feedforward_norm(x)), keys, values


class TransformerStack(torch.nn.Module):
    """Positional encoding, `num_layers` causal pre-LN blocks and a final LayerNorm, in one direction.

    Not registered: the shared implementation of "transformer" and "bidirectional_lm_transformer".

    Parameters
        input_dim: int, num_layers: int, num_heads: int, feedforward_hidden_dim: int, dropout: float,
        positional_encoding: str ("sinusoidal", "learned" or "none"), max_length: int,
        direction: str = "forward"   "backward" reads each row from its last real token to its first.
    Inputs
        inputs: (B, T, D) float;  mask: (B, T) bool, True = token, padding only at the end of a row.
        all_layers: bool = False
    Outputs
        (B, T, D) top layer (after the final LayerNorm), or with `all_layers` (L, B, T, D): every
        block's output, bottom first, the last one after the final LayerNorm. Zeros where mask is False.
    Notes
        Positions count in reading order: for the backward direction, position 0 is a row's last token.
        `step` (forward direction only) continues rows from a cache; see there.
    """

    position_embedding: Optional[torch.Tensor]  # (max_length, D): a Parameter, a buffer, or None

    def __init__(self, input_dim: int, num_layers: int, num_heads: int, feedforward_hidden_dim: int,
                 dropout: float, positional_encoding: PositionalEncoding, max_length: int,
                 direction: Direction = "forward") -> None:
        super().__init__()
        self.input_dim = input_dim
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.direction = direction
        self.positional_encoding = positional_encoding
        self.max_length = max_length
        if positional_encoding == "learned":
            self.position_embedding = torch.nn.Parameter(torch.empty(max_length, input_dim))
        elif positional_encoding == "sinusoidal":
            self.register_buffer("position_embedding", sinusoidal_positions(max_length, input_dim), persistent=False)
        else:
            self.position_embedding = None
        self.input_dropout = torch.nn.Dropout(dropout)
        self.blocks = torch.nn.ModuleList(
            TransformerBlock(input_dim, num_heads, feedforward_hidden_dim, dropout) for _ in range(num_layers))
        self.final_norm = torch.nn.LayerNorm(input_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """GPT-2 style: linear weights normal(0, 0.02), residual output projections scaled by 1/sqrt(2L)."""
        for name, parameter in self.named_parameters():
            if name == "position_embedding" or (name.endswith("weight") and parameter.dim() == 2):
                std = 0.02
                if name.endswith("attention.output.weight") or name.endswith("feedforward.2.weight"):
                    std /= math.sqrt(2 * self.num_layers)
                torch.nn.init.normal_(parameter, mean=0.0, std=std)
            elif name.endswith("bias") and "norm" not in name:
                torch.nn.init.zeros_(parameter)
        for module in self.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.reset_parameters()

    def forward(self, inputs: torch.Tensor, mask: torch.BoolTensor, all_layers: bool = False) -> torch.Tensor:
        timesteps = inputs.shape[1]
        lengths = mask.sum(dim=1)  # (B,)
        x = reverse_padded_rows(inputs, lengths) if self.direction == "backward" else inputs  # (B, T, D)
        if self.position_embedding is not None:
            self._check_length(timesteps)
            x = x + self.position_embedding[:timesteps].to(x.dtype)  # (B, T, D)
        x = self.input_dropout(x)
        layers = []
        for block in self.blocks:
            x = block(x)  # (B, T, D)
            layers.append(x)
        output = self._output(layers, all_layers)  # (B, T, L, D) or (B, T, D)
        if self.direction == "backward":
            output = reverse_padded_rows(output, lengths)  # back to left-to-right order
        output = zero_padding(output, mask)
        return output.permute(2, 0, 1, 3) if all_layers else output  # (L, B, T, D) or (B, T, D)

    def step(self, inputs: torch.Tensor, mask: torch.Tensor, state: Optional[StepState] = None,
             all_layers: bool = False) -> Tuple[torch.Tensor, StepState]:
        """`forward` at new positions (B, T, D), right-padded, after the rows of `state` (None: empty prefixes).

        State: {"keys.l", "values.l": (B, nh, T_c, hs) for every layer l, "key_mask": (B, T_c) bool, True =
        a real cached position, "lengths": (B,) long, real positions so far (the next one's position)}.
        A row's padding stays in the cache, masked out, so rows of different lengths share one cache.
        Forward direction only: a backward stack reads each row from its end, which a step cannot.
        """
        if self.direction != "forward":
            raise ValueError("only a forward TransformerStack can step")
        batch_size, timesteps, _ = inputs.shape
        if state is None:
            empty = inputs.new_zeros(batch_size, self.num_heads, 0, self.input_dim // self.num_heads)
            state = {"key_mask": mask.new_zeros(batch_size, 0),
                     "lengths": torch.zeros(batch_size, dtype=torch.long, device=inputs.device),
                     **{f"{kind}.{layer}": empty for kind in ("keys", "values") for layer in range(self.num_layers)}}
        lengths = state["lengths"]
        new_lengths = lengths + mask.sum(dim=1)  # (B,)
        x = inputs
        if self.position_embedding is not None:
            self._check_length(int(new_lengths.max()))  # a host-device sync
            positions = (lengths.unsqueeze(1) + torch.arange(timesteps, device=inputs.device))  # (B, T)
            positions = positions.clamp(max=self.max_length - 1)  # padded positions may lie past the table
            x = x + self.position_embedding[positions].to(x.dtype)  # (B, T, D)
        x = self.input_dropout(x)
        layers: List[torch.Tensor] = []
        new_state: StepState = {"key_mask": torch.cat([state["key_mask"], mask], dim=1), "lengths": new_lengths}
        for layer, block in enumerate(cast(List[TransformerBlock], list(self.blocks))):
            x, keys, values = block.step(x, state[f"keys.{layer}"], state[f"values.{layer}"], state["key_mask"])
            new_state[f"keys.{layer}"], new_state[f"values.{layer}"] = keys, values  # (B, nh, T_c + T, hs)
            layers.append(x)
        output = zero_padding(self._output(layers, all_layers), mask)  # (B, T, L, D) or (B, T, D)
        return (output.permute(2, 0, 1, 3) if all_layers else output), new_state

    def _output(self, layers: List[torch.Tensor], all_layers: bool) -> torch.Tensor:
        """(B, T, L, D) every block's output, the last after the final LayerNorm; or (B, T, D) that last one."""
        layers[-1] = self.final_norm(layers[-1])
        return torch.stack(layers, dim=2) if all_layers else layers[-1]

    def _check_length(self, length: int) -> None:
        if length > self.max_length:  # run time: the length of a batch
            raise ConfigurationError(f"a batch has {length} timesteps, more than the transformer's "
                                     f"max_length {self.max_length}; raise max_length")

    def extra_repr(self) -> str:
        return f"direction={self.direction!r}, positional_encoding={self.positional_encoding!r}"


def sinusoidal_positions(max_length: int, dim: int) -> torch.Tensor:
    """(max_length, dim) sin/cos encodings of Vaswani et al. (2017): sin on even features, cos on odd."""
    positions = torch.arange(max_length, dtype=torch.float32).unsqueeze(1)  # (T, 1)
    frequencies = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))  # (D/2,)
    table = torch.zeros(max_length, dim)
    table[:, 0::2] = torch.sin(positions * frequencies)
    table[:, 1::2] = torch.cos(positions * frequencies[: dim // 2])
    return table



@Seq2SeqEncoder.register("transformer")
class CausalTransformerEncoder(Seq2SeqEncoder):
    """Causal (left-to-right) pre-LN transformer: position t attends to positions <= t only.

    Registered as a `Seq2SeqEncoder` with name "transformer".

    Parameters
        input_dim: int                    D, the size of the input and of the output.
        num_layers: int = 2               L.
        num_heads: int = 4                must divide D.
        feedforward_hidden_dim: Optional[int] = None   default 4 * D.
        dropout: float = 0.1              on the input, attention weights and residual branches.
        positional_encoding: PositionalEncoding = "sinusoidal"   "sinusoidal", "learned" or "none" (added to
                                          the input).
        max_length: int = 512             the longest T; longer batches are an error.
        return_all_layers: bool = False   return every layer's output.
    Inputs
        inputs: (B, T, D) float;  mask: (B, T) bool, True = token, padding only at the end of a row.
    Outputs
        (B, T, D), or (L, B, T, D) with `return_all_layers`; zeros where mask is False.
    Notes
        Attention is `scaled_dot_product_attention(is_causal=True)`. With right padding a real position
        never sees padding, and a padded position sees itself at least, so nothing is NaN. The output
        at t never depends on inputs after t (`no_peeking()`), so it suits a left-to-right LM.
        `step` keeps every layer's keys and values (a KV cache, `TransformerStack.step`), so a new
        position costs attention over the cache instead of a re-run of the prefix.
    Example
        >>> import torch
        >>> from lmlab.modules.seq2seq_encoders import Seq2SeqEncoder
        >>> encoder = Seq2SeqEncoder.from_params({"type": "transformer", "input_dim": 8, "num_layers": 1,
        ...                                       "num_heads": 2})
        >>> inputs, mask = torch.randn(1, 4, 8), torch.ones(1, 4, dtype=torch.bool)
        >>> changed = inputs.clone()
        >>> changed[0, 3] += 1.0  # a later token changes ...
        >>> encoder.eval()(inputs, mask)[0, :3].allclose(encoder(changed, mask)[0, :3])  # ... no earlier output
        True
    """

    directions: Tuple[Direction, ...] = ("forward",)
    input_dim_key = "input_dim"
    """One `TransformerStack` per direction, their outputs side by side (a subclass adds "backward")."""

    def __init__(self, input_dim: PositiveInt, num_layers: PositiveInt = 2, num_heads: PositiveInt = 4,
                 feedforward_hidden_dim: Optional[PositiveInt] = None, dropout: DropoutRate = 0.1,
                 positional_encoding: PositionalEncoding = "sinusoidal", max_length: PositiveInt = 512,
                 return_all_layers: bool = False) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.num_layers = num_layers
        self.return_all_layers = return_all_layers
        self.stacks = torch.nn.ModuleList(
            TransformerStack(input_dim, num_layers, num_heads, feedforward_hidden_dim or 4 * input_dim, dropout,
                             positional_encoding, max_length, direction=direction) for direction in self.directions)

    @classmethod
    def check_arguments(cls, arguments: Dict[str, Any]) -> Iterator[ConfigurationError]:
        input_dim, num_heads = arguments.get("input_dim"), arguments.get("num_heads")
        if input_dim is not None and num_heads is not None and input_dim % num_heads:
            yield ConfigurationError(f"must divide input_dim {input_dim}, found {num_heads}", "num_heads")

    def get_input_dim(self) -> int:
        return self.input_dim

    def get_output_dim(self) -> int:
        return len(self.directions) * self.input_dim

    def is_bidirectional(self) -> bool:
        return len(self.directions) == 2

    def no_peeking(self) -> bool:
        return True

    def forward(self, inputs: torch.Tensor, mask: torch.BoolTensor) -> torch.Tensor:
        outputs = [stack(inputs, mask, all_layers=self.return_all_layers) for stack in self.stacks]  # ([L,] B, T, D)
        return outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=-1)  # ([L,] B, T, D * directions)

    def can_step(self) -> bool:
        return self.directions == ("forward",)

    def step(self, inputs: torch.Tensor, mask: torch.Tensor,
             state: Optional[StepState] = None) -> Tuple[torch.Tensor, StepState]:
        if not self.can_step():  # a backward stack needs each row's end: the base class re-runs the prefix
            return super().step(inputs, mask, state)
        forward_stack: TransformerStack = self.stacks[0]  # type: ignore[assignment]
        return forward_stack.step(inputs, mask, state, all_layers=bool(self.return_all_layers))
