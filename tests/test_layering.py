"""The import diagram of STYLE.md as a tested fact: nothing in lmlab imports from a layer above it.

    commands | serving > training | predictors > models > modules > data > common

`serving` (the HTTP app) sits at the level of commands: it uses predictors, and `lmlab serve` starts it.
"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "lmlab"
RANK = {"common": 0, "version": 0, "data": 1, "modules": 2, "models": 3, "training": 4, "predictors": 4,
        "commands": 5, "serving": 5}
MAY_IMPORT_SIBLING = {("commands", "serving")}  # a command starts the server


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "common"


def _imports(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def test_no_upward_or_sibling_imports():
    problems = []
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT.parent).with_suffix("")
        module = ".".join(relative.parts)
        if module in ("lmlab.__init__", "lmlab.__main__"):
            continue
        own = _layer(module)
        for imported in _imports(path):
            if not imported.startswith("lmlab."):
                continue
            other = _layer(imported)
            if other not in RANK or own not in RANK:
                continue
            upward = RANK[other] > RANK[own]
            sibling = RANK[other] == RANK[own] and other != own and (own, other) not in MAY_IMPORT_SIBLING
            if upward or sibling:
                problems.append(f"{module} imports {imported} ({own} -> {other})")
    assert not problems, "\n".join(problems)


def test_common_knows_nothing_of_torch_at_import_time():
    """`import lmlab` and the CLI's start-up stay light: common imports torch only inside functions."""
    for path in sorted((ROOT / "common").rglob("*.py")):
        tree = ast.parse(path.read_text())
        top_level = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
        names = [alias.name for node in top_level if isinstance(node, ast.Import) for alias in node.names]
        names += [node.module for node in top_level if isinstance(node, ast.ImportFrom) and node.module]
        assert not [n for n in names if n.split(".")[0] in ("torch", "numpy", "h5py", "spacy")], path
