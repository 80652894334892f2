"""Serving tests: one tiny language model trained per session, and real servers on free loopback ports."""
import contextlib
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest

from lmlab.commands.list import import_builtin_components
from lmlab.commands.testing import run_lmlab
from lmlab.models.archival import Archive, load_archive
from lmlab.predictors.predictor import Predictor
from lmlab.serving.app import ServerSettings, create_app
from lmlab.serving.testing import serve_in_thread

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "fixtures" / "configs" / "lm_tiny.jsonnet"
ENV = {"LMLAB_FIXTURES": str(ROOT / "fixtures")}
WAIT_S = 60  # longest a test waits for an answer; never reached when the server works


@pytest.fixture(scope="session")
def lm_archive(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("serving") / "run"
    result = run_lmlab(["train", CONFIG, "-s", run], env=ENV)
    assert result.returncode == 0, result.stderr
    return run / "model.tar.gz"


@pytest.fixture(scope="session")
def archive(lm_archive) -> Archive:
    import serving_test_predictors  # noqa: F401  (registers "serving_test")

    import_builtin_components()
    return load_archive(lm_archive)


@pytest.fixture
def gate(tmp_path, monkeypatch) -> Path:
    """The directory where `serving_test` predictors hold "hold" requests (see serving_test_predictors)."""
    monkeypatch.setenv("LMLAB_TEST_GATE", str(tmp_path))
    return tmp_path


@pytest.fixture
def serve(archive) -> Callable[..., Any]:
    """`with serve(predictor_name, **settings) as client:` an httpx client of a real server in a thread."""

    @contextlib.contextmanager
    def start(predictor: str = "serving_test", **settings: Any) -> Iterator[httpx.Client]:
        app = create_app(Predictor.from_archive(archive, predictor), ServerSettings(**settings), "model.tar.gz")
        with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=WAIT_S) as client:
            yield client

    return start
