"""Checkpoints: everything needed to continue a run exactly, written atomically.

A checkpoint file holds the model's `state_dict` (including carried states), the optimizer and
scheduler states, the position in the data (epoch, batches done in it, the data loader's state), the
trainer's running statistics, the model's metric state and every random number generator's state.
Files are named `checkpoint_epoch_{E}_batch_{B}.th` (B batches of epoch E done) in
`<serialization_dir>/checkpoints/`; the newest `keep` are kept. They are loaded with
`torch.load(weights_only=True)` (never unpickled code) onto the CPU, whatever device wrote them: tensors
reach their devices through `load_state_dict`, and the RNGs take CPU tensors anyway.
"""
import os
import random
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy
import torch

from lmlab.common.errors import ArchiveError
from lmlab.common.file_utils import atomic_write

_NAME = re.compile(r"checkpoint_epoch_(\d+)_batch_(\d+)\.th$")


def rng_state() -> Dict[str, Any]:
    """Python's, numpy's, torch's and (when present) every GPU's generator state, as checkpointable values."""
    numpy_state: Tuple[Any, ...] = numpy.random.get_state(legacy=True)  # type: ignore[assignment]
    state: Dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state(),
             "numpy": [numpy_state[0], torch.from_numpy(numpy_state[1].astype(numpy.int64)), *numpy_state[2:]]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    """Restore `rng_state()`, wherever its tensors were loaded: the generators take CPU byte tensors.
    CUDA states are restored for the GPUs both machines have; a state saved without CUDA leaves the
    GPUs' generators as they are."""
    random.setstate(_as_tuples(state["python"]))
    torch.set_rng_state(state["torch"].cpu())
    kind, keys, *rest = state["numpy"]
    numpy.random.set_state((kind, keys.cpu().numpy().astype(numpy.uint32), *rest))
    if "cuda" in state and torch.cuda.is_available():
        for device, cuda_state in enumerate(state["cuda"][:torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state.cpu(), device)


def _as_tuples(value: Any) -> Any:
    return tuple(_as_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


class Checkpointer:
    """Saves and finds checkpoints in `<serialization_dir>/checkpoints`; keeps the newest `keep`."""

    def __init__(self, serialization_dir: str, keep: int = 2) -> None:
        self.directory = Path(serialization_dir) / "checkpoints"
        self.keep = keep

    def save(self, epoch: int, batch: int, state: Dict[str, Any]) -> Path:
        path = self.directory / f"checkpoint_epoch_{epoch}_batch_{batch}.th"
        with atomic_write(path, "wb") as stream:
            torch.save(state, stream)
        for old in self._existing()[:-self.keep] if self.keep > 0 else []:
            old[2].unlink(missing_ok=True)
        return path

    def latest(self) -> Optional[Path]:
        existing = self._existing()
        return existing[-1][2] if existing else None

    def load(self, path: Path) -> Dict[str, Any]:
        """The checkpoint at `path`, every tensor on the CPU (see the module docstring)."""
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # truncated, corrupt or unsafe: all are the user's file, not a bug
            raise ArchiveError(f"cannot load checkpoint {path}: {type(err).__name__}: {str(err).splitlines()[0]}") \
                from err

    def _existing(self) -> List[Tuple[int, int, Path]]:
        if not self.directory.is_dir():
            return []
        found = []
        for name in os.listdir(self.directory):
            match = _NAME.match(name)
            if match:
                found.append((int(match.group(1)), int(match.group(2)), self.directory / name))
        return sorted(found)
