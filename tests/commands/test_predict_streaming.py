"""`lmlab predict ARCHIVE -` at the end of a pipe: each line is answered before the next one is written; and
every line is answered, whatever it holds."""
import argparse
import json
import select
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import pytest

from lmlab.commands.list import import_builtin_components
from lmlab.commands.predict import answer_json_lines, read_json_lines
from lmlab.commands.testing import run_lmlab
from lmlab.models.archival import load_archive
from lmlab.models.testing import write_language_model_archive
from lmlab.predictors.predictor import Predictor

WORDS = "the cat sat on a mat dog ran".split()
WAIT_S = 120  # longest wait for one answer; a predict that waits for more input never answers and fails here


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    return write_language_model_archive(tmp_path_factory.mktemp("pipe") / "model.tar.gz", WORDS,
                                        contextualizer="basic_rnn", num_layers=2)


def _rounded(value: Any) -> Any:
    """JSON with every float to 5 significant digits (another process may round the last bits differently)."""
    if isinstance(value, float):
        return float(f"{value:.5g}")
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return value


def _read_line(stream: IO[bytes], what: str) -> str:
    ready, _, _ = select.select([stream], [], [], WAIT_S)
    assert ready, f"no answer to {what} within {WAIT_S} s"
    return stream.readline().decode("utf-8")


def test_each_line_of_a_pipe_is_answered_before_the_next_is_written(archive):
    lines = [json.dumps({"sentence": "the cat", "top_k": 2}), "not json",
             json.dumps({"sentence": "a dog", "generate": {"max_tokens": 4, "seed": 3}, "score": False})]
    import_builtin_components()
    predictor = Predictor.from_archive(load_archive(archive))
    expected = [predictor.predict_json(json.loads(lines[0])), None, predictor.predict_json(json.loads(lines[2]))]
    process = subprocess.Popen([sys.executable, "-m", "lmlab", "predict", str(archive), "-", "--batch-size", "16"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdin is not None and process.stdout is not None
    try:
        for number, (line, answer) in enumerate(zip(lines, expected, strict=True), start=1):
            process.stdin.write(line.encode("utf-8") + b"\n")
            process.stdin.flush()  # the pipe stays open: predict must answer without waiting for EOF or a full batch
            output = json.loads(_read_line(process.stdout, f"line {number}"))
            if answer is None:
                assert output["error"].startswith(f"input error at <stdin>:{number}: invalid JSON")
            else:
                assert _rounded(output) == _rounded(answer)
        process.stdin.close()
        assert process.wait(timeout=WAIT_S) == 0
        assert process.stdout.read() == b""
        assert "1 of 3 input lines had errors" in process.stderr.read().decode("utf-8")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_lines_piped_at_once_are_answered_in_order_and_written_to_the_output_file(archive, tmp_path):
    inputs = [{"sentence": " ".join(WORDS[:n])} for n in range(1, 8)]
    stdin = "".join(json.dumps(item) + "\n" for item in inputs) + "\n"  # a last empty line is an input error
    out = tmp_path / "out.jsonl"
    result = run_lmlab(["predict", archive, "-", "--batch-size", "3", "--output-file", out], stdin=stdin)
    assert result.returncode == 0, result.stderr
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    assert printed == [json.loads(line) for line in out.read_text().splitlines()]
    assert [output["tokens"] for output in printed[:-1]] == [item["sentence"].split() for item in inputs]
    assert printed[-1] == {"error": "input error at <stdin>:8: empty line"}


def test_every_line_is_answered_whatever_it_holds_one_error_per_bad_line(archive, tmp_path):
    """Lines that are not strict JSON (a lone surrogate, NaN, nesting deeper than the recursion limit, a
    5,000-digit number) or hold options out of range each get their own error; the lines after them are
    answered."""
    good = {"sentence": "the cat sat"}
    lines = ['{"sentence": "the \\ud800 cat"}', '{"sentence": "the cat", "top_k": NaN}', "[" * 100_000,
             '{"sentence": "the cat", "top_k": ' + "7" * 5000 + "}",
             '{"sentence": "the cat", "generate": {"temperature": 1e-39, "seed": 1}}', json.dumps(good)]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = run_lmlab(["predict", archive, path, "--batch-size", "8"])
    assert result.returncode == 0, result.stderr
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    expected = ["invalid JSON: the lone surrogate \\ud800 is not Unicode text",
                "invalid JSON: NaN is not a JSON number", "invalid JSON: nested too deeply",
                "invalid JSON: Exceeds the limit (4300 digits)",
                '"generate.temperature" must be a number from 0.01 to 100']
    for number, (output, message) in enumerate(zip(printed, expected, strict=False), start=1):
        assert output["error"].startswith(f"input error at {path}:{number}: {message}")
    assert printed[-1]["tokens"] == ["the", "cat", "sat"]
    assert "5 of 6 input lines had errors" in result.stderr


def test_a_line_that_fails_inside_the_model_fails_alone(tmp_path):
    """The batch it was in is answered in halves, down to the line alone, which gets an internal error."""
    calls = []

    def predict_batch(items):
        calls.append([item["n"] for item in items])
        if any(item["n"] == 3 for item in items):
            raise RuntimeError("broken\nmodel")
        return [{"n": item["n"]} for item in items]

    path, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    path.write_text("".join(json.dumps({"n": n}) + "\n" for n in range(6)))
    args = argparse.Namespace(batch_size=8, output_file=str(out), silent=True)
    assert answer_json_lines(predict_batch, read_json_lines(str(path)), args) == 0
    answers = [json.loads(line) for line in out.read_text().splitlines()]
    assert answers[:3] + answers[4:] == [{"n": n} for n in (0, 1, 2, 4, 5)]
    assert answers[3] == {"error": f"internal error at {path}:4: RuntimeError: broken; model (rerun with --debug "
                                   "for the traceback)"}
    assert calls == [[0, 1, 2, 3, 4, 5], [0, 1, 2], [3, 4, 5], [3], [4, 5]]
