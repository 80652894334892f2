"""`Seq2SeqEncoder`: the contract for contextualising a padded batch of vectors."""
from typing import Any, Optional

import torch

from lmlab.common.registrable import Registrable


class Seq2SeqEncoder(torch.nn.Module, Registrable):
    """Maps a padded batch of vectors to a batch of contextual vectors of the same length.

    Base class of the "seq2seq_encoder" registry.

    Inputs
        inputs: (B, T, H_in) float;  mask: (B, T) bool, True = token (padding only at the end of a row).
    Outputs
        (B, T, H_out) float, zeros where mask is False. Encoders built with `return_all_layers=True`
        return (L, B, T, H_out) instead: every layer's output, bottom first, the top layer last.
    Notes
        *Directions.* A bidirectional encoder's output is the forward half (H_out / 2) followed by the
        backward half. `no_peeking()` is True when the forward half at t depends only on inputs at
        positions <= t and the backward half only on positions >= t of the same row: the property a
        language model needs. A standard bidirectional RNN stack feeds both directions of layer l into
        both directions of layer l + 1, so it peeks and must not be used as an LM contextualizer.

        *Carried state* (truncated BPTT over contiguous text). Encoders whose `supports_state()` is True
        can be made stateful (`set_stateful(True)`, or `stateful=True` in their config): each forward
        then starts row b from the final state of row b of the previous forward (if the batch size is
        unchanged, else from zeros) and keeps its own final state, detached, for the next one.
        `reset_states()` forgets it. The carried state travels with `state_dict()` through torch's
        `get_extra_state` / `set_extra_state` hooks as one tensor (empty when there is none), so a
        checkpoint restores it and a resumed run continues exactly.
    """

    num_layers: int = 1
    """L, the number of layers (`LanguageModel.num_layers()` reads it)."""
    return_all_layers: Optional[bool] = None
    """Whether `forward` returns every layer, (L, B, T, H_out). None: this encoder only ever returns its top
    layer; encoders that can return all of them set a bool (their `return_all_layers` argument)."""

    def get_input_dim(self) -> int:
        """H_in."""
        raise NotImplementedError

    def get_output_dim(self) -> int:
        """H_out (both directions together for a bidirectional encoder)."""
        raise NotImplementedError

    def is_bidirectional(self) -> bool:
        raise NotImplementedError

    def no_peeking(self) -> bool:
        """True if no output position sees inputs "ahead" of it in its direction (see the class notes)."""
        return False

    # --- carried state ---------------------------------------------------------------------------
    def supports_state(self) -> bool:
        """True if this encoder can carry its state from one forward call to the next."""
        return False

    def set_stateful(self, flag: bool) -> None:
        """Switch state carrying on or off (off also forgets the state)."""
        if flag and not self.supports_state():
            raise ValueError(f"{type(self).__name__} cannot carry its state between batches")
        if not flag:
            self.reset_states()

    def is_stateful(self) -> bool:
        return False

    def reset_states(self) -> None:
        """Forget any carried state; the next forward starts from zeros."""

    def get_extra_state(self) -> Any:
        """The carried state as one detached tensor for `state_dict()`; empty when there is none."""
        return torch.empty(0)

    def set_extra_state(self, state: Any) -> None:
        """Restore what `get_extra_state` returned (called by `load_state_dict`)."""
