"""Evaluating a model over a data loader, and the two pieces training shares with it: the autocast
context (mixed precision on CPU or GPU) and how many tokens a batch's loss averages over.

`evaluate_model` backs `lmlab evaluate`, the trainer's validations, a run's test evaluation and pruning.
"""
import contextlib
from typing import Any, ContextManager, Dict, Iterator, Optional

import torch
from tqdm import tqdm

from lmlab.data.data_loaders import DataLoader, move_to_device
from lmlab.models.model import Model
from lmlab.training import distributed


def autocast(device: torch.device, dtype: Optional[torch.dtype]) -> ContextManager[Any]:
    """Autocast to `dtype` on `device`'s kind (CPU or CUDA); nothing when `dtype` is None.

    oneDNN's bfloat16 kernels need a CPU with AVX512-BF16 or AMX; elsewhere its LSTM refuses bfloat16
    inputs, so oneDNN is switched off inside: ATen's LSTM then runs in float32, matmuls still in bfloat16.
    """
    if dtype is None:
        return contextlib.nullcontext()
    stack = contextlib.ExitStack()
    if device.type == "cpu" and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        stack.enter_context(_without_onednn())
    stack.enter_context(torch.autocast(device.type, dtype=dtype))
    return stack


@contextlib.contextmanager
def _without_onednn() -> Iterator[None]:
    enabled = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False  # type: ignore[assignment]  # a settable module property
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = enabled


def evaluate_model(model: Model, data_loader: DataLoader, device: torch.device,
                   amp_dtype: Optional[torch.dtype] = None, desc: str = "evaluation",
                   progress_bar: bool = True) -> Dict[str, float]:
    """Token-weighted mean loss and the model's metrics over one pass of `data_loader` (in a distributed
    run, of every process's share of it: the sums are reduced over processes)."""
    model.eval()
    model.get_metrics(reset=True)
    model.reset_states()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    tokens = torch.zeros((), dtype=torch.float64, device=device)
    with torch.inference_mode(), autocast(device, amp_dtype):
        for batch in tqdm(data_loader.iter_epoch(0), desc=desc, leave=False, disable=None if progress_bar else True):
            output = model(**move_to_device(batch, device))
            if output.get("loss") is not None:
                count = count_tokens(output, batch)
                loss_sum += output["loss"].double() * count
                tokens += count
    model.reset_states()
    total_loss, total_tokens = distributed.all_reduce_sum_(torch.stack([loss_sum, tokens])).tolist()
    model.all_reduce_metrics()
    metrics = model.get_metrics(reset=True)
    if total_tokens > 0:
        metrics = {"loss": total_loss / total_tokens, **metrics}
    return metrics


def count_tokens(output: Dict[str, Any], batch: Dict[str, Any]) -> torch.Tensor:
    """Tokens the loss averages over: the model's `num_target_tokens`, else 1 per batch."""
    count = output.get("num_target_tokens")
    return count.double() if isinstance(count, torch.Tensor) else torch.tensor(float(count or 1))
