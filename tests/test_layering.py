"""The import diagram of STYLE.md as a tested fact: nothing in lmlab imports from a layer above it.

    commands | serving > training | predictors > models > modules > data > common

`serving` (the HTTP app) sits at the level of commands: it uses predictors, and `lmlab serve` starts it.
Inside a package, modules never import each other in a circle (a function-level import counts too).
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


def _module_name(path: Path) -> str:
    relative = path.relative_to(ROOT.parent).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def _import_graph(root: Path) -> dict:
    """{module: the lmlab modules it imports anywhere in its file (function-level imports included)}.

    `from a.b import c` counts as importing `a.b.c` when that is a module, else `a.b`.
    """
    modules = {_module_name(path): path for path in root.rglob("*.py")}
    graph = {}
    for module, path in modules.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                edges.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                edges.update(f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules
                             else node.module for alias in node.names)
        graph[module] = {edge for edge in edges if edge in modules and edge != module}
    return graph


def _cycles(graph: dict) -> list:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _package(module: str) -> str:
    return module.rpartition(".")[0]


def test_no_import_cycle_inside_a_package():
    """Modules of one package never import each other in a circle, not even through a function-level import
    (a package's `__init__` re-exporting its modules is not a cycle: it is left out)."""
    graph = _import_graph(ROOT)
    inits = {_module_name(path) for path in ROOT.rglob("__init__.py")}
    within = {module: {other for other in edges if _package(other) == _package(module) and other not in inits}
              for module, edges in graph.items() if module not in inits}
    assert not _cycles(within), _cycles(within)


def test_the_cycle_check_finds_a_cycle():
    assert _cycles({"p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a"}, "p.d": {"p.a"}}) == [["p.a", "p.b", "p.c"]]
    assert _cycles({"p.a": {"p.b"}, "p.b": set()}) == []


def test_token_embedders_import_nothing_from_text_field_embedders():
    """Text field embedders are made of token embedders: the dependency runs one way (also under TYPE_CHECKING
    and inside functions)."""
    problems = [f"{path.name} imports {imported}"
                for path in sorted((ROOT / "modules" / "token_embedders").rglob("*.py"))
                for imported in _imports(path) if imported.startswith("lmlab.modules.text_field_embedders")]
    assert not problems, "\n".join(problems)


def test_no_state_dict_prefixes_of_private_attributes_in_strings():
    """A dependency on another class's private layout carried in a string ("_contextualizer.") is one the
    import test cannot see: code reaches other objects' parts through their public properties instead."""
    import re

    problems = []
    for path in sorted(ROOT.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings \
                    and re.fullmatch(r"_[a-z]\w*\.(\w+\.?)*", node.value):
                problems.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}: {node.value!r}")
    assert not problems, "\n".join(problems)
