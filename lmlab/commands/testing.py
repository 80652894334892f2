"""Run the real `lmlab` CLI as a user would, in this process (fast) or in a fresh one (isolated).

A test helper for lmlab and for plugin authors; it lives with the commands because it runs them."""
import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, Optional, Sequence, Union


def run_lmlab(args: Sequence[Union[str, Path]], cwd: Optional[Path] = None, env: Optional[Dict[str, str]] = None,
              stdin: Optional[str] = None, timeout: float = 600,
              isolated: Optional[bool] = None) -> subprocess.CompletedProcess:
    """Run `lmlab ARGS`; returns a CompletedProcess with text stdout/stderr and the exit code.

    `env` adds to (does not replace) the environment. In-process runs call `lmlab.commands.main`
    directly and save the torch import of a new interpreter; `isolated=True` (implied when `env` sets
    PYTHONPATH, which only a new interpreter honours) runs `python -m lmlab` in a subprocess: needed
    for plugins discovered at start-up and for runs that kill themselves.
    """
    arguments = [str(arg) for arg in args]
    if isolated or (isolated is None and env and "PYTHONPATH" in env):
        return subprocess.run([sys.executable, "-m", "lmlab", *arguments], cwd=cwd, env={**os.environ, **(env or {})},
                              input=stdin, capture_output=True, text=True, timeout=timeout)
    from lmlab.commands import main

    stdout, stderr = io.StringIO(), io.StringIO()
    stdin_stream = io.TextIOWrapper(io.BytesIO((stdin or "").encode("utf-8")), encoding="utf-8")
    with _environment(env or {}), _working_directory(cwd), contextlib.redirect_stdout(stdout), \
            contextlib.redirect_stderr(stderr), _replaced_stdin(stdin_stream):
        try:
            code = main(arguments)
        except SystemExit as exit_:  # argparse: --help, usage errors
            code = exit_.code if isinstance(exit_.code, int) else 1
    return subprocess.CompletedProcess(["lmlab", *arguments], code, stdout.getvalue(), stderr.getvalue())


@contextlib.contextmanager
def _environment(changes: Dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _working_directory(path: Optional[Path]) -> Iterator[None]:
    previous = os.getcwd()
    if path is not None:
        os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


@contextlib.contextmanager
def _replaced_stdin(stream: io.TextIOWrapper) -> Iterator[None]:
    previous, sys.stdin = sys.stdin, stream
    try:
        yield
    finally:
        sys.stdin = previous
