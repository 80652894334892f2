"""Serving under load: `lmlab serve` with micro-batching vs batch-1 serving, on loopback.

    python benchmarks/serve_load.py [--archive model.tar.gz] [--clients 32] [--seconds 30]
                                    [--max-batch-size 32] [--max-wait-ms 5] [--threads N ...] [--client raw|httpx]

Starts `lmlab serve` twice (micro-batching with --max-batch-size, then --max-batch-size 1), and each time
runs `--clients` concurrent clients for `--seconds`: each sends POST /predict (a 20-token prompt from
the validation text, sentence score and top-5 next words), waits for the answer, and sends the next.
Prints requests/s and the p50/p99 latency the clients see, and from the server's /metrics its own p99
(arrival to last byte, interpolated in the histogram's buckets as Prometheus' histogram_quantile does:
on a small busy machine the clients' own scheduling delays add to what they see), the mean batch size,
the share of the time the model was computing ("model busy": near 1 means the model, not HTTP, limits
the rate) and the model's milliseconds per request, for both. --threads lists the servers' torch thread counts
(OMP_NUM_THREADS) to try, each for both modes (default: 1 and torch's own choice, all cores): the clients share the
cores, so one model thread can serve batch 1 better and more threads serve big batches better. The ratio is
printed at each thread count and best against best (each mode at its fastest thread count).
Target (issue 12): micro-batching >= 3x the requests/s of batch-1 serving at 32 clients, p99 < 1 s,
for the WikiText-2 LSTM on a CPU.

Without --archive: the WikiText-2 LSTM of configs/lm/wikitext2_lstm.jsonnet (full training vocabulary,
33k words; WIKITEXT2_DIR or ../shared) trained for a few batches only, since throughput does not depend
on the weights (cached in --workdir); without the corpus, the tiny fixture LM. The clients run in this
process and share the CPU with the server: on a small machine the figures include their cost, which grows
with the rate, so the clients speak HTTP/1.1 by hand (`RawConnection`; --client httpx for httpx, which
costs about as much CPU per request as the model does).
"""
import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import httpx
import torch
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
WIKITEXT2 = Path(os.environ.get("WIKITEXT2_DIR", ROOT.parent / "shared" / "data" / "wikitext-2"))
TINY_TEXT = ROOT / "fixtures" / "data" / "tiny_lm" / "valid.txt"
PROMPT_TOKENS = 20


def default_archive(workdir: Path) -> Tuple[Path, Path]:
    """(archive, text to draw prompts from): a barely trained WikiText-2 LSTM, else the tiny fixture LM."""
    if (WIKITEXT2 / "train.txt").exists():
        run, config, text = workdir / "wikitext2_lstm", ROOT / "configs" / "lm" / "wikitext2_lstm.jsonnet", \
            WIKITEXT2 / "valid.txt"
        # Train on 100 validation windows; the vocabulary comes from the whole training file (read as "test").
        overrides = {"train_data_path": str(text), "validation_data_path": None,
                     "test_data_path": str(WIKITEXT2 / "train.txt"), "evaluate_on_test": False,
                     "datasets_for_vocab_creation": ["test"], "dataset_reader": {"max_instances": 100},
                     "trainer": {"num_epochs": 1, "learning_rate_scheduler": None, "progress_bar": False,
                                 "checkpoint_every_n_batches": None}}
        env = {"WIKITEXT2_DIR": str(WIKITEXT2)}
    else:
        run, config, text = workdir / "lm_tiny", ROOT / "fixtures" / "configs" / "lm_tiny.jsonnet", TINY_TEXT
        overrides, env = {}, {"LMLAB_FIXTURES": str(ROOT / "fixtures")}
    archive = run / "model.tar.gz"
    if not archive.exists():
        print(f"training {config.name} into {run} (once; reused from then on)", flush=True)
        subprocess.run([sys.executable, "-m", "lmlab", "train", str(config), "-s", str(run), "--force",
                        "-o", json.dumps(overrides)], env={**os.environ, **env}, check=True,
                       stdout=subprocess.DEVNULL)
    return archive, text


def prompts(text: Path, count: int = 512) -> List[str]:
    """`count` prompts of PROMPT_TOKENS whitespace tokens, cut from consecutive lines of `text`."""
    words = text.read_text(encoding="utf-8").split()
    step = max(1, (len(words) - PROMPT_TOKENS) // count)
    return [" ".join(words[i:i + PROMPT_TOKENS]) for i in range(0, step * count, step)][:count]


def start_server(archive: Path, max_batch_size: int, max_wait_ms: float,
                 threads: Optional[int]) -> Tuple[subprocess.Popen, str]:
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    server = subprocess.Popen([sys.executable, "-m", "lmlab", "serve", str(archive), "--port", "0",
                               "--max-batch-size", str(max_batch_size), "--max-wait-ms", str(max_wait_ms)],
                              stderr=subprocess.PIPE, text=True, env=env)
    assert server.stderr is not None
    for line in server.stderr:
        found = re.search(r"serving .* at (http://[\d.]+:\d+)/", line)
        if found:
            return server, found.group(1)
    raise RuntimeError(f"lmlab serve exited with {server.wait()} before listening")


def stop_server(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGTERM)
    server.communicate(timeout=120)


async def load(url: str, bodies: List[Dict], clients: int, seconds: float, client: str = "raw") -> List[float]:
    """Latencies (s) of the requests `clients` closed-loop clients complete in `seconds`, each client on its own
    keep-alive connection, through `client`: "raw" (HTTP/1.1 written and read by hand) or "httpx"."""
    latencies: List[float] = []
    failures = 0
    deadline = time.perf_counter() + seconds
    payloads = [json.dumps(body).encode() for body in bodies]
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as pool:

        async def one_client(offset: int) -> None:
            nonlocal failures
            i = offset
            async with contextlib.AsyncExitStack() as stack:
                connection = await stack.enter_async_context(RawConnection(url)) if client == "raw" else None
                while time.perf_counter() < deadline:
                    started = time.perf_counter()
                    payload = payloads[i % len(payloads)]
                    if connection is not None:
                        status = await connection.post(payload)
                    else:
                        status = (await pool.post("/predict", content=payload,
                                                  headers={"content-type": "application/json"})).status_code
                    if status == 200:
                        latencies.append(time.perf_counter() - started)
                    else:
                        failures += 1
                    i += clients

        await asyncio.gather(*(one_client(k) for k in range(clients)))
    if failures:
        print(f"  warning: {failures} requests failed")
    return latencies


class RawConnection:
    """POST /predict on one keep-alive connection, HTTP/1.1 written and read by hand: a small fraction of an
    HTTP library's CPU cost per request (httpx spends about as much CPU on a request as the model here, and
    the clients share the CPU with the server)."""

    def __init__(self, url: str) -> None:
        self.host, self.port = url.removeprefix("http://").split(":")
        self.head = f"POST /predict HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"

    async def __aenter__(self) -> "RawConnection":
        self.reader, self.writer = await asyncio.open_connection(self.host, int(self.port))
        return self

    async def __aexit__(self, *_: object) -> None:
        self.writer.close()
        await self.writer.wait_closed()

    async def post(self, body: bytes) -> int:
        """The status of POST /predict with `body` (the response is read whole)."""
        self.writer.write(f"{self.head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        headers = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        length = next(int(line.split(":", 1)[1]) for line in headers if line.lower().startswith("content-length:"))
        await self.reader.readexactly(length)
        return int(headers[0].split()[1])


def server_metrics(url: str) -> Dict[str, float]:
    """The server's totals (from /metrics): model calls' items, calls and seconds, and "le=X": /predict
    requests answered within X seconds (the latency histogram's cumulative buckets)."""
    totals = {}
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text):
        for sample in family.samples:
            if sample.name in ("lmlab_batch_size_sum", "lmlab_batch_size_count", "lmlab_batch_seconds_sum"):
                totals[sample.name] = sample.value
            elif sample.name == "lmlab_request_latency_seconds_bucket" and sample.labels["endpoint"] == "/predict":
                totals["le=" + sample.labels["le"]] = sample.value
    return {"items": totals["lmlab_batch_size_sum"], "calls": totals["lmlab_batch_size_count"],
            "seconds": totals["lmlab_batch_seconds_sum"], **{k: v for k, v in totals.items() if k.startswith("le=")}}


def histogram_quantile(quantile: float, totals: Dict[str, float]) -> float:
    """The `quantile` of the latency histogram's counts in `totals`, linear within its bucket."""
    buckets = sorted((float(key[3:]), count) for key, count in totals.items() if key.startswith("le="))
    rank, lower, below = quantile * buckets[-1][1], 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            return lower if math.isinf(bound) else lower + (bound - lower) * (rank - below) / max(count - below, 1)
        lower, below = bound, count
    return lower


def run_mode(archive: Path, bodies: List[Dict], max_batch_size: int, threads: int,
             args: argparse.Namespace) -> Dict[str, float]:
    server, url = start_server(archive, max_batch_size, args.max_wait_ms, threads)
    try:
        asyncio.run(load(url, bodies, args.clients, min(2.0, args.seconds), args.client))  # warm-up, not counted
        start = server_metrics(url)
        before = time.perf_counter()
        latencies = asyncio.run(load(url, bodies, args.clients, args.seconds, args.client))
        elapsed = time.perf_counter() - before
        totals = {name: value - start.get(name, 0.0) for name, value in server_metrics(url).items()}
    finally:
        stop_server(server)
    cuts = statistics.quantiles(latencies, n=100)
    return {"requests": len(latencies), "rps": len(latencies) / elapsed, "p50": cuts[49], "p99": cuts[98],
            "server_p99": histogram_quantile(0.99, totals), "batch": totals["items"] / max(totals["calls"], 1),
            "busy": totals["seconds"] / elapsed, "model_ms": 1000 * totals["seconds"] / max(totals["items"], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, help="model.tar.gz to serve (default: see the module docstring)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--threads", type=int, nargs="+",
                        help="torch thread counts of the servers to try (default: 1 and torch's)")
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw",
                        help="how the clients speak HTTP (default raw: hand-written HTTP/1.1, cheapest on the CPU)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/lmlab-serve-load"))
    args = parser.parse_args()

    if args.archive:
        archive = args.archive
        text = WIKITEXT2 / "valid.txt" if (WIKITEXT2 / "valid.txt").exists() else TINY_TEXT
    else:
        archive, text = default_archive(args.workdir)
    bodies = [{"sentence": prompt, "top_k": 5} for prompt in prompts(text)]
    thread_counts = sorted(set(args.threads or [1, torch.get_num_threads()]))
    print(f"torch {torch.__version__}, server threads {thread_counts}, {os.cpu_count()} CPUs; serving {archive}")
    print(f"{args.clients} clients x {args.seconds:g} s, POST /predict ({PROMPT_TOKENS}-token prompt, score + top-5)")
    modes = ((f"micro-batching (max {args.max_batch_size})", args.max_batch_size), ("batch 1", 1))
    results = {(name, threads): run_mode(archive, bodies, size, threads, args)
               for threads in thread_counts for name, size in modes}
    print(f"\n{'mode':<28}{'threads':>8}{'requests':>10}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'server p99':>12}"
          f"{'mean batch':>12}{'model busy':>12}{'model ms/req':>14}")
    for (name, threads), r in results.items():
        print(f"{name:<28}{threads:>8}{r['requests']:>10d}{r['rps']:>10.1f}{1000 * r['p50']:>10.1f}"
              f"{1000 * r['p99']:>10.1f}{1000 * r['server_p99']:>12.1f}{r['batch']:>12.1f}{r['busy']:>12.2f}"
              f"{r['model_ms']:>14.2f}")
    (batched_name, _), (single_name, _) = modes
    print()
    for threads in thread_counts:
        ratio = results[batched_name, threads]["rps"] / results[single_name, threads]["rps"]
        print(f"ratio micro-batching / batch 1 at {threads} thread(s): {ratio:.2f}x requests/s")
    best = {name: max((results[name, threads] for threads in thread_counts), key=lambda r: r["rps"])
            for name, _ in modes}
    print(f"ratio best micro-batching / best batch 1: {best[batched_name]['rps'] / best[single_name]['rps']:.2f}x "
          f"requests/s, p99 {1000 * best[batched_name]['p99']:.0f} ms (target >= 3x, p99 < 1000 ms)")


if __name__ == "__main__":
    main()
