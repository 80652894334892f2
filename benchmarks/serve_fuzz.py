"""Fuzzing a live `lmlab serve` on loopback: valid requests mixed with hostile ones, and what each gets back.

    python benchmarks/serve_fuzz.py ARCHIVE [--seconds 60] [--clients 16] [--seed 0] [--threads 1]

Starts `lmlab serve ARCHIVE` on a free loopback port; half of `--clients` closed-loop clients (httpx, one
keep-alive connection each) send valid POST /predict requests (a 5-20 word sentence of --text; the
language_model predictor also asks for the top 5 next words), the other half hostile ones, from a
process of their own (so that making and reading hostile requests does not delay the valid clients'
event loop, and their latencies are the server's). Two phases:

1. alone (a quarter of --seconds, at least 10 s): the valid clients only;
2. mixed (--seconds): the valid clients and the hostile clients together. A hostile request is drawn from
   a pool made up front from --seed: random JSON shapes and types at every endpoint; valid shapes with
   extreme numbers (0, -1, 1e-39, 3e38, 2**64, 400-digit integers, NaN, Infinity, 1e999) in every option;
   odd Unicode (lone surrogates, NUL, byte-order and direction marks, non-breaking and ideographic
   spaces, combining marks, emoji, a 5,000-character word); bodies over the size limit and just under it;
   100,000-deep nesting; invalid UTF-8 and empty bodies; unknown paths and methods; /predict_batch at and
   over its item cap; and for a language model long generations, plain and streamed, alone and in batches
   at and over the generated-token cap.

It prints the requests of each kind by outcome (HTTP status; "bad json" for a body, or a streamed event,
that is not strict JSON or an error body without its request id; "transport" for a connection the server
closed, as it may while a client is still sending a body it refused; "timeout" for no answer within 60 s),
every 5xx with its request, the p50/p99 of the valid /predict requests in each phase, and whether the
server is still healthy afterwards (alive, /health ok, a valid /predict answered, its own 5xx count).
Targets (issue 21): 0 5xx, 0 bad json, valid /predict p99 mixed <= 2x alone. The clients share the CPU
with the server: on a small machine the mixed phase's valid latencies also include the hostile clients'
cost of making and reading their requests (a 1 MB body, 256-item batches), and the server's cost of
answering the hostile requests that are valid work (a 256-item batch is 256 requests' worth of model work,
a 300-token continuation 300 steps), so read the ratio with that in mind.
"""
import argparse
import asyncio
import json
import multiprocessing
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Tuple

import httpx
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from lmlab.common import strict_json  # noqa: E402  (the repository's, not an installed copy)

TEXT = ROOT / "fixtures" / "data" / "tiny_lm" / "valid.txt"
TIMEOUT_S = 60.0
ODD = ["\\ud800", "\\udfff", "\\u0000", "\\ufeff", "\\u202e", "\\u200d", "\u00a0", "\u3000", "e\u0301\u0301\u0301",
       "\U0001f600", "\\t\\r\\n", "\u2028", "x" * 5000, "\\\\", "\\\"", "@@PADDING@@", "@@UNKNOWN@@", "<s>", "</s>"]
NUMBERS = ["0", "-1", "1e-39", "1e-400", "3e38", "1.7976931348623157e308", "18446744073709551616", "-0", "0.5",
           "9" * 400, "NaN", "Infinity", "-Infinity", "1e999", "true", "null", '"5"', "[]", "{}", "2", "1000", "1001"]
GENERATE_KEYS = ["max_tokens", "greedy", "temperature", "top_k", "top_p", "seed"]


@dataclass
class Case:
    """One request: its kind (for the outcome table), method, path, body and whether it streams."""

    kind: str
    method: str
    path: str
    body: bytes = b""
    stream: bool = False


@dataclass
class Tally:
    outcomes: Dict[str, Counter] = field(default_factory=dict)
    server_errors: List[Tuple[Case, int, str]] = field(default_factory=list)
    valid_latencies: List[float] = field(default_factory=list)


def sentences(text: Path, rng: random.Random, count: int = 256) -> List[str]:
    words = text.read_text(encoding="utf-8").split()
    starts = [rng.randrange(max(1, len(words) - 20)) for _ in range(count)]
    return [" ".join(words[start:start + rng.randint(5, 20)]) for start in starts]


def valid_case(sentence: str, language_model: bool) -> Case:
    body = {"sentence": sentence, "top_k": 5} if language_model else {"sentence": sentence}
    return Case("valid /predict", "POST", "/predict", json.dumps(body).encode())


def random_json(rng: random.Random, depth: int = 0) -> str:
    """Raw JSON text (NaN and Infinity included: Python's json writes them) of a random shape."""
    choice = rng.randrange(7 if depth < 4 else 4)
    if choice == 0:
        return rng.choice(NUMBERS)
    if choice == 1:
        return json.dumps(rng.choice(["", " ", "sentence", "the cat", "[MASK]"])) if rng.random() < 0.7 \
            else '"' + rng.choice(ODD) + '"'
    if choice == 2:
        return rng.choice(["true", "false", "null"])
    if choice == 3:
        return str(rng.randint(-2 ** 70, 2 ** 70))
    if choice == 4:
        return "[" + ",".join(random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))) + "]"
    keys = ["sentence", "tokens", "top_k", "generate", "score", "next_token", "stream", "max_tokens", "seed",
            "temperature", "sentense", "\\ud800", ""]
    return "{" + ",".join(f'"{rng.choice(keys)}": {random_json(rng, depth + 1)}'
                          for _ in range(rng.randint(0, 4))) + "}"


def hostile_cases(rng: random.Random, prompts: List[str], language_model: bool, max_body_bytes: int,
                  count: int) -> List[Case]:
    endpoints = ["/predict", "/predict_batch", "/generate"]
    cases: List[Case] = []
    for _ in range(count):
        kind = rng.choice(["random json", "extreme number", "odd unicode", "huge body", "deep body", "bad bytes",
                           "big batch", *(["long generation"] * 2 if language_model else [])])
        prompt = rng.choice(prompts)
        if kind == "random json":
            cases.append(Case(kind, "POST", rng.choice(endpoints), random_json(rng).encode()))
        elif kind == "extreme number":
            number = rng.choice(NUMBERS)
            where = rng.choice(["top", "generate", "flat"] if language_model else ["top"])
            if where == "top":
                key = rng.choice(["top_k", "score", "next_token", "tokens", "generate"])
                body, path = f'{{"sentence": {json.dumps(prompt)}, "{key}": {number}}}', "/predict"
            elif where == "generate":
                body = f'{{"sentence": {json.dumps(prompt)}, "generate": {{"{rng.choice(GENERATE_KEYS)}": {number}}}}}'
                path = "/predict"
            else:
                body = f'{{"sentence": {json.dumps(prompt)}, "{rng.choice(GENERATE_KEYS)}": {number}}}'
                path = "/generate"
            cases.append(Case(kind, "POST", path, body.encode()))
        elif kind == "odd unicode":
            odd = " ".join(rng.choice(ODD) for _ in range(rng.randint(1, 4)))
            words = prompt.split()
            words.insert(rng.randrange(len(words) + 1), odd)
            text = " ".join(words)
            body = (f'{{"tokens": [{", ".join(chr(34) + w + chr(34) for w in text.split(" "))}]}}'
                    if not language_model and rng.random() < 0.5 else f'{{"sentence": "{text}"}}')
            cases.append(Case(kind, "POST", rng.choice(["/predict", "/generate"] if language_model else ["/predict"]),
                              body.encode()))
        elif kind == "huge body":
            size = max_body_bytes + rng.randint(1, 100_000) if rng.random() < 0.5 else max_body_bytes - 200
            body = json.dumps({"sentence": ("the cat sat " * (size // 12 + 1))[:size - 20]}).encode()
            cases.append(Case(kind, "POST", rng.choice(endpoints), body))
        elif kind == "deep body":
            depth = rng.choice([1_000, 100_000])
            body = "[" * depth + "]" * depth if rng.random() < 0.5 else '{"a":' * depth + "1" + "}" * depth
            cases.append(Case(kind, "POST", rng.choice(endpoints), body.encode()))
        elif kind == "bad bytes":
            method, path, body = rng.choice([("POST", "/predict", b"\xff\xfe{}"), ("POST", "/predict", b""),
                                             ("POST", "/predict_batch", b"[]"), ("GET", "/predict", b""),
                                             ("POST", "/nowhere", b"{}"), ("DELETE", "/health", b""),
                                             ("POST", "/predict", b'{"sentence": "a"'),
                                             ("POST", "/predict", b'{"sentence": "the cat"} trailing')])
            cases.append(Case(kind, method, path, body))
        elif kind == "big batch":
            items = [{"sentence": rng.choice(prompts)} for _ in range(rng.choice([256, 257, 1000]))]
            cases.append(Case(kind, "POST", "/predict_batch", json.dumps(items).encode()))
        else:  # long generation
            shape = rng.choice(["plain", "stream", "batch", "over cap"])
            options = {"max_tokens": rng.choice([100, 300]), "temperature": rng.choice([0.01, 1.0, 100])}
            if rng.random() < 0.5:
                options["seed"] = rng.randrange(2 ** 64)
            if shape in ("plain", "stream"):
                body = {"sentence": prompt, **options, "stream": shape == "stream"}
                cases.append(Case(kind, "POST", "/generate", json.dumps(body).encode(), stream=shape == "stream"))
            else:
                count_items = 256 if shape == "batch" else 300
                items = [{"sentence": rng.choice(prompts), "generate": {"max_tokens": 16 if shape == "batch" else 20}}
                         for _ in range(count_items if shape == "batch" else 210)]
                cases.append(Case(kind, "POST", "/predict_batch", json.dumps(items).encode()))
    return cases


def count(tally: Tally, case: Case, outcome: str) -> None:
    tally.outcomes.setdefault(case.kind, Counter())[outcome] += 1


def judge(case: Case, status: int, text: str, tally: Tally) -> None:
    """Record the outcome of `case`; a body (or a streamed event) that is not strict JSON, or an error body
    without its request id, is "bad json"."""
    outcome = str(status)
    try:
        if case.stream and status == 200:
            for line in text.splitlines():
                if line.startswith("data: "):
                    strict_json.loads(line[len("data: "):])
        else:
            body = strict_json.loads(text)
            if status >= 400 and not (isinstance(body, dict) and body.get("request_id")):
                outcome = f"{status} bad json"
    except ValueError:
        outcome = f"{status} bad json"
    count(tally, case, outcome)
    if status >= 500:
        tally.server_errors.append((case, status, text[:300]))


async def client(url: str, cases: List[Case], deadline: float, rng: random.Random, tally: Tally) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=TIMEOUT_S) as http:
        while time.perf_counter() < deadline:
            case = rng.choice(cases)
            started = time.perf_counter()
            try:
                request = http.build_request(case.method, case.path, content=case.body or None,
                                             headers={"content-type": "application/json"})
                response = await http.send(request)
            except httpx.TimeoutException:
                count(tally, case, "timeout")
                continue
            except httpx.TransportError:
                count(tally, case, "transport")
                continue
            if case.kind == "valid /predict" and response.status_code == 200:
                tally.valid_latencies.append(time.perf_counter() - started)
            judge(case, response.status_code, response.text, tally)


def phase(url: str, cases: List[Case], seconds: float, clients: int, seed: int) -> Tally:
    """What `clients` clients sending requests drawn from `cases` get in `seconds`."""
    tally = Tally()
    deadline = time.perf_counter() + seconds

    async def main() -> None:
        await asyncio.gather(*(client(url, cases, deadline, random.Random(seed + k), tally) for k in range(clients)))

    asyncio.run(main())
    return tally


def phase_in_process(url: str, cases: List[Case], seconds: float, clients: int, seed: int,
                     results: "multiprocessing.Queue[Tally]") -> None:
    results.put(phase(url, cases, seconds, clients, seed))


def mixed_phase(url: str, valid: List[Case], hostile: List[Case], seconds: float, clients: int,
                seed: int) -> Tuple[Tally, Tally]:
    """(the valid clients' tally, the hostile clients'), each half of `clients` running together; the hostile
    ones in a process of their own."""
    results: "multiprocessing.Queue[Tally]" = multiprocessing.Queue()
    worker = multiprocessing.Process(target=phase_in_process,
                                     args=(url, hostile, seconds, clients - clients // 2, seed + 1, results))
    worker.start()
    valid_tally = phase(url, valid, seconds, clients // 2, seed)
    hostile_tally = results.get()
    worker.join()
    return valid_tally, hostile_tally


def start_server(archive: Path, threads: int, log: Path) -> Tuple[subprocess.Popen, str]:
    """`lmlab serve` on a free loopback port, its log in `log` (read for the address: a pipe left unread
    would fill and stall the server's logging)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT)}
    with log.open("w") as stream:
        server = subprocess.Popen([sys.executable, "-m", "lmlab", "serve", str(archive), "--port", "0"],
                                  stderr=stream, stdout=stream, env=env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        found = re.search(r"serving .* at (http://[\d.]+:\d+)/", log.read_text())
        if found:
            return server, found.group(1)
        if server.poll() is not None:
            raise RuntimeError(f"lmlab serve exited with {server.returncode}: {log.read_text()[-2000:]}")
        time.sleep(0.1)
    raise RuntimeError("lmlab serve did not start within 300 s")


def quantiles(latencies: List[float]) -> Tuple[float, float]:
    if len(latencies) < 2:
        return float("nan"), float("nan")
    cuts = statistics.quantiles(latencies, n=100)
    return cuts[49], cuts[98]


def health(url: str, server: subprocess.Popen, valid: Case) -> Dict[str, Any]:
    alive = server.poll() is None
    checks: Dict[str, Any] = {"alive": alive}
    if alive:
        checks["/health"] = httpx.get(f"{url}/health", timeout=TIMEOUT_S).json() == {"status": "ok"}
        checks["valid /predict"] = httpx.post(f"{url}/predict", content=valid.body, timeout=TIMEOUT_S).status_code
        metrics = httpx.get(f"{url}/metrics", timeout=TIMEOUT_S).text
        checks["server-counted 5xx"] = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                                           if line.startswith("lmlab_request_errors_total") and 'status="5' in line)
    return checks


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("archive", type=Path, help="model.tar.gz to serve")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the mixed phase")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="the server's torch threads (OMP_NUM_THREADS)")
    parser.add_argument("--text", type=Path, default=TEXT, help="where valid sentences come from")
    parser.add_argument("--cases", type=int, default=2000, help="hostile requests made up front")
    parser.add_argument("--kinds", nargs="+", help="only these kinds of hostile request (default: all)")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    prompts = sentences(args.text, rng)
    log = Path(tempfile.mkdtemp(prefix="lmlab-fuzz-")) / "server.log"
    server, url = start_server(args.archive, args.threads, log)
    try:
        info = httpx.get(f"{url}/info").json()
        language_model = info["predictor"] == "language_model"
        valid = [valid_case(prompt, language_model) for prompt in prompts]
        cases = [case for case in hostile_cases(rng, prompts, language_model, info["max_body_bytes"], args.cases)
                 if not args.kinds or case.kind in args.kinds]
        print(f"lmlab serve {args.archive} ({info['predictor']}), torch {torch.__version__}, server threads "
              f"{args.threads}, {os.cpu_count()} CPUs, {args.clients // 2} valid + {args.clients - args.clients // 2} "
              f"hostile clients, server log {log}")
        phase(url, valid, 3.0, args.clients // 2, args.seed)  # warm-up, not counted
        alone = phase(url, valid, max(10.0, args.seconds / 4), args.clients // 2, args.seed + 1000)
        mixed, hostile = mixed_phase(url, valid, cases, args.seconds, args.clients, args.seed + 2000)
        checks = health(url, server, valid[0])
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=120)
        except subprocess.TimeoutExpired:
            server.kill()

    print(f"\nmixed phase, {args.seconds:.0f} s: requests by kind and outcome")
    for kind, counts in sorted({**hostile.outcomes, **mixed.outcomes}.items()):
        print(f"  {kind:16s} {sum(counts.values()):6d}   " + ", ".join(f"{outcome}: {n}" for outcome, n in
                                                                       sorted(counts.items())))
    tallies = (alone, mixed, hostile)
    fives = [error for tally in tallies for error in tally.server_errors]
    bad = sum(n for tally in tallies for counts in tally.outcomes.values()
              for outcome, n in counts.items() if "bad json" in outcome)
    stalls = sum(counts["timeout"] for tally in tallies for counts in tally.outcomes.values())
    print(f"\n5xx: {len(fives)}   bad json: {bad}   timeouts: {stalls}")
    for case, status, text in fives:
        print(f"  {status} {case.kind} {case.method} {case.path} body={case.body[:120]!r} -> {text[:200]!r}")
    (a50, a99), (m50, m99) = quantiles(alone.valid_latencies), quantiles(mixed.valid_latencies)
    print("\nvalid /predict          requests    p50 ms    p99 ms")
    print(f"  alone                 {len(alone.valid_latencies):8d}  {1000 * a50:8.1f}  {1000 * a99:8.1f}")
    print(f"  under the hostile mix {len(mixed.valid_latencies):8d}  {1000 * m50:8.1f}  {1000 * m99:8.1f}")
    print(f"  ratio (mixed / alone)           {m50 / a50:8.2f}  {m99 / a99:8.2f}   target p99 <= 2")
    print(f"\nhealth afterwards: {checks}")


if __name__ == "__main__":
    main()
