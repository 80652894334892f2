"""`lmlab serve`: start-up errors, a light `lmlab --help`, and a real server process that stops cleanly on
SIGTERM, finishing the request it is answering.

The HTTP API itself is tested in tests/serving against servers in threads; the `serving_test` predictor
(tests/serving/serving_test_predictors.py) holds a request containing "hold" at a file gate.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from lmlab.commands.testing import run_lmlab

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "fixtures" / "configs" / "lm_tiny.jsonnet"
PLUGIN_DIR = ROOT / "tests" / "serving"
WAIT_S = 60


def error_lines(stderr: str):
    return [line for line in stderr.splitlines() if line.startswith("lmlab:")]


@pytest.fixture(scope="module")
def lm_archive(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("serve") / "run"
    result = run_lmlab(["train", CONFIG, "-s", run], env={"LMLAB_FIXTURES": str(ROOT / "fixtures")})
    assert result.returncode == 0, result.stderr
    return run / "model.tar.gz"


def test_help_lists_serve_without_loading_the_web_stack():
    code = ("import sys; from lmlab.commands import build_parser; build_parser(); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'fastapi', 'uvicorn', 'starlette', 'torch'}))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
    result = run_lmlab(["serve", "--help"])
    assert result.returncode == 0
    for option in ("--host", "--port", "--predictor", "--cuda-device", "--max-batch-size", "--max-wait-ms",
                   "--max-items-per-request", "--max-generated-tokens"):
        assert option in result.stdout


@pytest.mark.parametrize("flags, message", [
    (["--max-batch-size", "0"], "config error: --max-batch-size must be positive, found 0"),
    (["--max-wait-ms", "-1"], "config error: --max-wait-ms must not be negative, found -1.0"),
    (["--max-body-bytes", "0"], "config error: --max-body-bytes must be positive, found 0"),
    (["--max-items-per-request", "0"], "config error: --max-items-per-request must be positive, found 0"),
    (["--max-generated-tokens", "0"], "config error: --max-generated-tokens must be positive, found 0"),
])
def test_bad_settings_are_refused_in_one_line(tmp_path, flags, message):
    result = run_lmlab(["serve", tmp_path / "model.tar.gz", *flags])
    assert result.returncode == 2
    assert error_lines(result.stderr) == [f"lmlab: {message}"]


def test_a_port_in_use_is_a_one_line_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_lmlab(["serve", tmp_path / "model.tar.gz", "--port", port])
    assert result.returncode == 1
    assert error_lines(result.stderr) == [f"lmlab: input error: cannot listen on 127.0.0.1:{port}: "
                                          "Address already in use"]


def test_a_missing_archive_is_a_one_line_error(tmp_path):
    result = run_lmlab(["serve", tmp_path / "missing.tar.gz", "--port", "0"])
    assert result.returncode == 1
    [line] = error_lines(result.stderr)
    assert "missing.tar.gz" in line and "internal error" not in line


def test_sigterm_finishes_the_request_in_flight_then_exits_0(lm_archive, tmp_path):
    server = subprocess.Popen(
        [sys.executable, "-m", "lmlab", "serve", lm_archive, "--port", "0", "--predictor", "serving_test",
         "--include-package", "serving_test_predictors"],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(PLUGIN_DIR), os.environ.get("PYTHONPATH", "")]),
             "LMLAB_TEST_GATE": str(tmp_path)},
        stderr=subprocess.PIPE, text=True)
    try:
        url = _announced_url(server)
        assert httpx.get(f"{url}/info").json()["predictor"] == "serving_test"
        with ThreadPoolExecutor(1) as pool:
            held = pool.submit(httpx.post, f"{url}/predict", json={"sentence": "hold the cat"}, timeout=WAIT_S)
            _wait_for(tmp_path / "entered-1")  # the request is in the model
            server.send_signal(signal.SIGTERM)
            _wait_until_refused(url)  # shutting down: no new connections...
            (tmp_path / "release-1").touch()
            answer = held.result(timeout=WAIT_S)  # ...but the one in flight is answered
        assert answer.status_code == 200 and answer.json()["tokens"] == ["hold", "the", "cat"]
        assert server.wait(timeout=WAIT_S) == 0
        assert "lmlab: stopped by SIGTERM after finishing the requests in flight" in server.stderr.read()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def _announced_url(server: subprocess.Popen) -> str:
    """The URL the server logs once it listens (it was started with --port 0)."""
    assert server.stderr is not None
    lines = []
    for line in server.stderr:
        lines.append(line)
        found = re.search(r"serving .* at (http://127\.0\.0\.1:\d+)/", line)
        if found:
            return found.group(1)
    raise AssertionError("the server exited before listening:\n" + "".join(lines))


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + WAIT_S
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.005)


def _wait_until_refused(url: str) -> None:
    host, port = url.removeprefix("http://").split(":")
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
        except ConnectionRefusedError:
            return
        assert time.monotonic() < deadline, "the server kept accepting connections after SIGTERM"
        time.sleep(0.01)
