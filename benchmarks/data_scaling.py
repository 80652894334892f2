"""Cost of the data as the corpus grows: peak RSS and time to the first training batch of `lmlab train`.

    python benchmarks/data_scaling.py [--sizes 2 10 50] [--wikitext2 DIR] [--threads 2] [--checkout DIR]

For each size (millions of tokens), WikiText-2's train file is repeated into a temporary folder (never
the repository) until it holds at least that many tokens (lines + "<eos>", as the reader counts them),
and `lmlab train configs/lm/wikitext2_lstm.jsonnet` runs on it twice, each time in a fresh process:
"cold" with an empty token cache (`LMLAB_CACHE` pointed at a new folder), then "warm" with the cache the
cold run wrote. A run trains 3 batches (no validation, test, checkpoints or scheduler) and is timed
from the process's start to the end of its first training batch (the trainer's log line for batch 1);
its peak RSS is the kernel's high-water mark of the process (`wait4`). The last column is the growth in
peak RSS per million tokens from the smallest corpus on (the model is the same at every size: same
vocabulary). `--checkout` runs another lmlab tree (e.g. `git archive` of an older commit) for a
before/after comparison. Nothing is asserted; run it on an otherwise quiet machine.
"""
import argparse
import datetime
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, Optional, Tuple

ROOT = Path(__file__).resolve().parents[1]
_BATCH_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO .*batch 1/", re.MULTILINE)
_OVERRIDES = {"validation_data_path": None, "test_data_path": None, "evaluate_on_test": False,
              "data_loader.batches_per_epoch": 3, "trainer.num_epochs": 1, "trainer.log_every_n_batches": 1,
              "trainer.checkpoint_every_n_batches": None, "trainer.progress_bar": False,
              "trainer.learning_rate_scheduler": None}


def count_tokens(path: Path) -> int:
    """Tokens the contiguous reader reads: the whitespace-separated words plus one "<eos>" per line."""
    with open(path, encoding="utf-8") as file:
        return sum(len(line.split()) + 1 for line in file)


def write_corpus(source: Path, copies: int, folder: Path) -> Path:
    folder.mkdir(parents=True)
    text = source.read_bytes()
    with open(folder / "train.txt", "wb") as file:
        for _ in range(copies):
            file.write(text)
    return folder


def run(checkout: Path, data: Path, cache: Path, workdir: Path, threads: int) -> Tuple[Optional[float], float]:
    """(seconds to the end of the first training batch, or None when there was none; peak RSS in MB) of one
    `lmlab train` process."""
    environment = {**os.environ, "WIKITEXT2_DIR": str(data), "LMLAB_CACHE": str(cache),
                   "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
                   "PYTHONPATH": os.pathsep.join(filter(None, [str(checkout), os.environ.get("PYTHONPATH")]))}
    log = workdir / "train.log"
    command = [sys.executable, "-m", "lmlab", "train", str(checkout / "configs" / "lm" / "wikitext2_lstm.jsonnet"),
               "-s", str(workdir / "run"), "-o", json.dumps(_OVERRIDES)]
    started = time.time()
    with open(log, "wb") as output:
        process = subprocess.Popen(command, cwd=checkout, env=environment, stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)  # waited for here, so that its own peak RSS comes back
        process.returncode = os.waitstatus_to_exitcode(status)  # (and Popen knows it has ended)
    text = log.read_text(errors="replace")
    if process.returncode:
        print(f"  lmlab train failed ({process.returncode}); its log ends:\n{text[-2000:]}", file=sys.stderr)
    found = _BATCH_LINE.search(text)
    first = None
    if found:
        first = datetime.datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp() - started
    shutil.rmtree(workdir / "run", ignore_errors=True)
    return first, usage.ru_maxrss / 1024  # kB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[2, 10, 50], help="millions of tokens")
    parser.add_argument("--wikitext2", default=os.environ.get("WIKITEXT2_DIR", str(ROOT.parent / "shared" / "data"
                                                                                   / "wikitext-2")))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--checkout", default=str(ROOT), help="the lmlab tree to run (default: this one)")
    args = parser.parse_args()
    import torch

    source = Path(args.wikitext2) / "train.txt"
    base = count_tokens(source)
    checkout = Path(args.checkout).resolve()
    print(f"lmlab {checkout}, torch {torch.__version__}, {args.threads} threads, {os.cpu_count()} CPUs, "
          f"load average before {os.getloadavg()[0]:.2f}; {source}: {base:,} tokens")
    print(f"{'corpus':>8}{'tokens':>13}  {'cache':<6}{'first batch s':>14}{'peak RSS MB':>13}{'MB / M tokens':>15}")
    smallest: Dict[str, Tuple[int, float]] = {}
    with tempfile.TemporaryDirectory(prefix="lmlab_data_scaling_") as temporary:
        for size in args.sizes:
            copies = max(1, math.ceil(size * 1e6 / base))
            folder = Path(temporary) / f"{size:g}M"
            data = write_corpus(source, copies, folder / "data")
            cache = folder / "cache"
            for mode in ("cold", "warm"):
                workdir = folder / mode
                workdir.mkdir()
                first, rss = run(checkout, data, cache, workdir, args.threads)
                tokens = copies * base
                smallest.setdefault(mode, (tokens, rss))
                low_tokens, low_rss = smallest[mode]
                growth = f"{(rss - low_rss) / ((tokens - low_tokens) / 1e6):.1f}" if tokens > low_tokens else "-"
                shown = f"{first:.1f}" if first is not None else "none"
                print(f"{size:>7g}M{tokens:>13,}  {mode:<6}{shown:>14}{rss:>13.0f}{growth:>15}", flush=True)
            shutil.rmtree(folder)
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
