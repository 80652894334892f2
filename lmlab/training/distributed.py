"""Data-parallel training over several processes, on PyTorch's own engine (`torch.distributed`, torchrun).

A run is distributed when torchrun (or `lmlab train --nproc N`, which runs torchrun's launcher itself)
starts it: every process gets RANK, WORLD_SIZE, LOCAL_RANK and a rendezvous address in its environment,
`process_group_from_environment()` joins the group, and the trainer wraps the model in
`DistributedDataParallel`. Collectives use gloo for CPU tensors and, where CUDA is present, nccl for
GPU tensors (one group, "cpu:gloo,cuda:nccl"); Python objects travel over gloo. Rank 0 alone logs and
writes files; every helper here is a no-op (or the identity) in a single process.
"""
import contextlib
import logging
import os
from datetime import timedelta
from typing import Iterator, List, Optional, Sequence, TypeVar

import torch
import torch.distributed as dist

from lmlab.common.errors import LmlabError
from lmlab.common.util import resolve_device

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

TIMEOUT = timedelta(minutes=30)
"""How long a collective waits for the other processes before failing (a process that dies is noticed
at once by the others' sockets and by torchrun; this bounds a process that hangs)."""


def is_distributed() -> bool:
    """True inside a process group (launched by torchrun or `--nproc`), even of one process."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """Rank 0: the process that logs and writes the run's files."""
    return rank() == 0


@contextlib.contextmanager
def process_group_from_environment() -> Iterator[None]:
    """Join the process group that torchrun describes in the environment, for the duration of the block.

    Outside torchrun (no WORLD_SIZE) nothing happens. With CUDA, the process uses GPU LOCAL_RANK. Logging
    below WARNING is silenced on every rank but 0, so that a run logs once.
    """
    if "WORLD_SIZE" not in os.environ:
        yield
        return
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend="cpu:gloo,cuda:nccl" if cuda else "gloo", timeout=TIMEOUT)
    lmlab_logger = logging.getLogger("lmlab")
    level = lmlab_logger.level
    if not is_main_process():
        lmlab_logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        lmlab_logger.setLevel(level)
        dist.destroy_process_group()


def process_device(cuda_device: Optional[int]) -> torch.device:
    """The device this process trains on: `resolve_device(cuda_device)` in a single process; in a
    distributed run with CUDA, GPU LOCAL_RANK unless `cuda_device` is -1 (CPU)."""
    if is_distributed() and torch.cuda.is_available() and (cuda_device is None or cuda_device >= 0):
        return torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}")
    return resolve_device(cuda_device)


def all_reduce_sum_(tensor: torch.Tensor) -> torch.Tensor:
    """Sum `tensor` over the processes, in place (nothing in a single process); returns it."""
    if is_distributed():
        dist.all_reduce(tensor)
    return tensor


def average_gradients_(parameters: Sequence[torch.nn.Parameter]) -> None:
    """Average every gradient over the processes, in place: what DistributedDataParallel does in
    backward, for gradients it did not reduce (accumulated under `no_sync`)."""
    if not is_distributed():
        return
    for parameter in parameters:
        if parameter.grad is not None:
            if parameter.grad.is_sparse:
                parameter.grad = parameter.grad.coalesce()
            dist.all_reduce(parameter.grad)
            parameter.grad.div_(world_size())


def broadcast_from_main(value: _T) -> _T:
    """Rank 0's `value` on every process (any picklable value): a decision taken once, shared."""
    if not is_distributed():
        return value
    box: List[Optional[_T]] = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]  # type: ignore[return-value]


def gather_to_main(value: _T) -> List[_T]:
    """Every process's `value`, in rank order, on rank 0 (an empty list elsewhere). Tensors in it
    should be on the CPU: they are pickled."""
    if not is_distributed():
        return [value]
    gathered: Optional[List[Optional[_T]]] = [None] * world_size() if is_main_process() else None
    dist.gather_object(value, gathered, dst=0)
    return gathered or []  # type: ignore[return-value]


def seed_process(seed: int) -> None:
    """Give each process its own torch random stream (dropout masks, samples), derived from `seed`:
    rank r draws from seed + r, so a single process draws exactly what it always did."""
    if rank():
        torch.manual_seed(seed + rank())


def launch(nproc: int, argv: Sequence[str]) -> int:
    """Run `python -m lmlab ARGV` in `nproc` processes on this machine, as
    `torchrun --nproc-per-node NPROC -m lmlab ARGV` would: torchrun's own launcher, a rendezvous on a free
    loopback port, no restarts. Returns 0, or the exit code of the first process that failed (the
    others are stopped at once: a failed process never leaves the rest waiting); a process stopped by a
    signal is an `LmlabError` naming its rank and the signal. Ctrl-C or SIGTERM stops every process and
    is a KeyboardInterrupt here."""
    from torch.distributed.elastic.multiprocessing import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    arguments = get_args_parser().parse_args([
        "--nnodes", "1", "--nproc-per-node", str(nproc), "--max-restarts", "0",
        "--rdzv-backend", "c10d", "--rdzv-endpoint", "127.0.0.1:0", "--local-addr", "127.0.0.1",
        "-m", "lmlab", *argv])
    try:
        run(arguments)
    except SignalException as err:  # torchrun has already stopped the processes
        raise KeyboardInterrupt from err
    except ChildFailedError as err:
        failed_rank, failure = err.get_first_failure()
        if failure.exitcode > 0:  # the process printed its own error line
            return failure.exitcode
        raise LmlabError(f"training process of rank {failed_rank} was stopped by {failure.signal_name()}; "
                         "the other processes were stopped too") from err
    return 0
