"""Run the real `lmlab` CLI in a subprocess, as a user would."""
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, Optional, Sequence, Union


def run_lmlab(args: Sequence[Union[str, Path]], cwd: Optional[Path] = None, env: Optional[Dict[str, str]] = None,
              stdin: Optional[str] = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """`python -m lmlab ARGS` with text output captured; `env` adds to (not replaces) the environment."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "lmlab", *map(str, args)], cwd=cwd, env=full_env, input=stdin,
                          capture_output=True, text=True, timeout=timeout)
