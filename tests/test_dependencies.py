"""Every runtime dependency declared in pyproject.toml is imported somewhere in lmlab: a dependency that
nothing imports is installed by every user for nothing."""
import ast
import re
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Set

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503 names: "prometheus_client" == "prometheus-client"


def _imported_top_level_modules() -> Set[str]:
    modules: Set[str] = set()
    for path in (ROOT / "lmlab").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return modules


def test_every_declared_dependency_is_imported():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    requirements = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    declared = {_normalise(re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0]) for requirement in requirements}
    distributions_of = packages_distributions()  # top-level module -> the installed distributions providing it
    used = {_normalise(distribution) for module in _imported_top_level_modules()
            for distribution in distributions_of.get(module, [module])}
    assert sorted(declared - used) == []
