"""`StatefulEncoder`: the carried-state bookkeeping shared by the recurrent encoders."""
from typing import Any, Optional, Tuple

import torch

from lmlab.modules.seq2seq_encoders.seq2seq_encoder import Seq2SeqEncoder


class StatefulEncoder(Seq2SeqEncoder):
    """Base of the encoders that can carry each row's final state into the next forward (truncated BPTT).

    Not registered. Subclasses implement `run`; this class implements the carried-state contract of
    `Seq2SeqEncoder` on top of it: `forward` starts from the kept state (when stateful and the batch size
    is unchanged) and keeps the final one, detached; `state_dict()` carries it through
    `get_extra_state` / `set_extra_state`.

    Parameters
        stateful: bool   start with state carrying on.
    Notes
        A state is one tensor with the batch on dimension 2, e.g. (S, L, B, H) for S = 2 (h, c) of an LSTM.
    """

    def __init__(self, stateful: bool) -> None:
        super().__init__()
        self._stateful = stateful
        self._state: Optional[torch.Tensor] = None  # (..., ..., B, ...) or None

    def run(self, inputs: torch.Tensor, mask: torch.BoolTensor,
            state: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """(output as `forward` returns it, final state) starting from `state` (None: zeros)."""
        raise NotImplementedError

    def supports_state(self) -> bool:
        return True

    def set_stateful(self, flag: bool) -> None:
        super().set_stateful(flag)
        self._stateful = flag

    def is_stateful(self) -> bool:
        return self._stateful

    def reset_states(self) -> None:
        self._state = None

    def get_extra_state(self) -> Any:
        return self._state if self._state is not None else torch.empty(0)

    def set_extra_state(self, state: Any) -> None:
        self._state = state.detach().clone() if isinstance(state, torch.Tensor) and state.numel() > 0 else None

    def forward(self, inputs: torch.Tensor, mask: torch.BoolTensor) -> torch.Tensor:
        state = None
        if self._stateful and self._state is not None and self._state.shape[2] == inputs.shape[0]:
            state = self._state.to(device=inputs.device, dtype=inputs.dtype)
        output, final = self.run(inputs, mask, state)
        if self._stateful:
            self._state = final.detach()
        return output
