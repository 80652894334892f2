"""Data-parallel training throughput: tokens/s of the WikiText-2 LSTM at 1 and N processes.

    python benchmarks/ddp_throughput.py [--batches 100] [--nproc 1 2] [--repeats 1] [--device cpu|cuda] [--use-amp]

Trains configs/lm/wikitext2_lstm.jsonnet (WIKITEXT2_DIR or ../shared/data/wikitext-2) through the real
CLI, once per setting, for a fixed number of optimizer steps (`data_loader.batches_per_epoch`), with the
global batch kept at 20 streams (each of W processes takes 20 / W of them), no validation and no
checkpoints. Settings: one plain process; one process under DDP (torchrun, to see the wrapper's cost);
then W = 2, 3, ... processes (`lmlab train --nproc W`). tokens/s is the trainer's own figure (target
tokens of all processes over rank 0's time in the training loop: start-up, reading and the vocabulary
are left out); the wall time of the whole run is shown beside it. --use-amp trains under bf16 autocast.

On the CPU every setting shares the machine's cores: each of W processes gets cores / W threads
(OMP_NUM_THREADS), so W > 1 gains only what a lower intra-op thread count wastes less; expect little on
2 cores. With --device cuda each process uses GPU LOCAL_RANK (nccl), so W is at most the GPU count.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Tuple

import torch

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "lm" / "wikitext2_lstm.jsonnet"
STREAMS = 20  # the config's batch size: the global batch, shared among the processes


def run(processes: int, ddp: bool, batches: int, device: str, use_amp: bool, workdir: Path) -> Tuple[float, float]:
    """(tokens/s, wall seconds) of one training run with `processes` processes (DDP when `ddp`)."""
    directory = workdir / f"w{processes}{'d' if ddp else ''}_{time.perf_counter_ns()}"
    overrides = {
        "data_loader": {"batch_size": STREAMS // processes, "batches_per_epoch": batches, "shuffle": False},
        "validation_data_path": None, "test_data_path": None, "evaluate_on_test": False,
        "trainer": {"num_epochs": 1, "checkpoint_every_n_batches": None, "progress_bar": False,
                    "learning_rate_scheduler": None, "cuda_device": 0 if device == "cuda" else -1,
                    "use_amp": use_amp},
    }
    lmlab = ["-m", "lmlab", "train", str(CONFIG), "-s", str(directory), "-o", json.dumps(overrides)]
    if not ddp:
        command = [sys.executable, *lmlab]
    elif processes == 1:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1", *lmlab]
    else:
        command = [sys.executable, *lmlab, "--nproc", str(processes)]
    threads = max(1, (os.cpu_count() or 1) // processes) if device == "cpu" else 1
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode:
        sys.exit(f"run failed ({' '.join(command)}):\n{result.stderr[-3000:]}")
    metrics = json.loads((directory / "metrics.json").read_text())
    return metrics["training_tokens_per_second"], wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=100, help="optimizer steps per run (of 20 x 35 tokens)")
    parser.add_argument("--nproc", type=int, nargs="+", default=[1, 2], help="world sizes to measure")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--use-amp", action="store_true", help="bf16 autocast")
    args = parser.parse_args()
    if any(STREAMS % w for w in args.nproc):
        sys.exit(f"every world size must divide the {STREAMS} streams")
    settings: List[Tuple[int, bool, str]] = []
    for processes in args.nproc:
        if processes == 1:
            settings += [(1, False, "1 process"), (1, True, "1 process, DDP (torchrun)")]
        else:
            settings.append((processes, True, f"{processes} processes, DDP (--nproc)"))
    print(f"torch {torch.__version__}, {os.cpu_count()} cores, device {args.device}"
          f"{' (bf16 autocast)' if args.use_amp else ''}, {args.batches} steps of {STREAMS} x 35 tokens, "
          f"{args.repeats} repeat(s): medians")
    print(f"{'setting':32} {'per-process batch':>17} {'tokens/s':>10} {'ratio':>6} {'wall s':>7}")
    baseline = None
    with tempfile.TemporaryDirectory() as workdir:
        for processes, ddp, name in settings:
            figures = [run(processes, ddp, args.batches, args.device, args.use_amp, Path(workdir))
                       for _ in range(args.repeats)]
            speed = statistics.median(f[0] for f in figures)
            wall = statistics.median(f[1] for f in figures)
            baseline = baseline or speed
            print(f"{name:32} {STREAMS // processes:>17} {speed:>10.0f} {speed / baseline:>6.2f} {wall:>7.1f}")


if __name__ == "__main__":
    main()
