"""The package's shape, kept so: layers without upward arrows (import-linter's contract in
pyproject.toml), no import cycles, no private name used outside its module, no function
over 80 lines. The checks from the source walk every import statement with ast, those
inside functions included, so that a lazy import cannot hide a cycle."""
from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_FUNCTION_LINES = 80


def _modules() -> dict[str, str]:
    out = {}
    for dirpath, _, files in os.walk(os.path.join(ROOT, "nlm")):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(dirpath, f)
                name = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                out[name.removesuffix(".__init__")] = path
    return out


MODULES = _modules()


def _parse(path: str) -> ast.Module:
    with open(path, encoding="utf-8") as f:
        return ast.parse(f.read())


TREES = {name: _parse(path) for name, path in MODULES.items()}


def _imported(name: str, tree: ast.Module):
    """(imported module, imported name or None, line) for every import in the module,
    relative imports resolved, wherever the statement stands."""
    package = name if MODULES[name].endswith("__init__.py") else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[:len(parts) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            for a in node.names:
                yield base, a.name, node.lineno


def _owner(module: str) -> str | None:
    """The nlm module that ``module`` names (a name inside it cut off), or None."""
    while module and module not in MODULES:
        module = module.rpartition(".")[0]
    return module or None


def _graph() -> dict[str, set[str]]:
    graph = {}
    for name, tree in TREES.items():
        deps = set()
        for module, item, _ in _imported(name, tree):
            if not module.startswith("nlm"):
                continue
            target = module + "." + item if item and module + "." + item in MODULES else module
            target = _owner(target)
            if target is not None and target != name:
                deps.add(target)
        graph[name] = deps
    return graph


def _is_face(name: str) -> bool:
    """A package __init__ that only hands names on (it defines nothing)."""
    return MODULES[name].endswith("__init__.py") and not any(
        isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        for n in ast.walk(TREES[name]))


def test_no_import_cycles():
    graph = {n: {d for d in deps if not _is_face(d)} for n, deps in _graph().items()}
    state: dict[str, int] = {}
    path: list[str] = []
    cycles = []

    def visit(v):
        state[v] = 1
        path.append(v)
        for w in sorted(graph[v]):
            if state.get(w) == 1:
                cycles.append(path[path.index(w):] + [w])
            elif w not in state:
                visit(w)
        path.pop()
        state[v] = 2

    for v in sorted(graph):
        if v not in state:
            visit(v)
    assert cycles == []


def _contracts() -> list[tuple[str, list[list[str]]]]:
    """(container, layers top to bottom, each a list of modules) of every layers
    contract in pyproject.toml; the root contract's container is "nlm"."""
    tomllib = pytest.importorskip("tomllib")
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        config = tomllib.load(f)["tool"]["importlinter"]
    out = []
    for contract in config["contracts"]:
        if contract["type"] != "layers":
            continue
        for container in contract.get("containers", [""]):
            prefix = container + "." if container else ""
            layers = [[prefix + m.strip() for m in line.split("|")] for line in contract["layers"]]
            out.append((container or "nlm", layers))
    return out


@pytest.mark.parametrize("container,layers", _contracts(), ids=lambda x: str(x)[:20])
def test_imports_point_down_the_layers(container, layers):
    """The same contracts as lint-imports, from the source: a module of one layer imports
    nothing of a higher layer nor of a sibling on its own line, and every module of the
    container has its place."""
    rank = {m: i for i, line in enumerate(layers) for m in line}

    def layer_of(module):
        while module and module not in rank:
            module = module.rpartition(".")[0]
        return module or None

    depth = container.count(".") + 1
    children = {".".join(m.split(".")[:depth + 1]) for m in MODULES
                if m.startswith(container + ".")}
    assert children <= set(rank) | {"nlm.version"}, \
        f"every module of {container} has its place in the layers"
    wrong = []
    for name, tree in TREES.items():
        src = layer_of(name)
        if src is None:
            continue
        for module, item, line in _imported(name, tree):
            full = module + "." + item if item else module
            dst = layer_of(full) or layer_of(module)
            if dst is None or dst == src:
                continue
            if rank[dst] <= rank[src]:
                wrong.append(f"{MODULES[name]}:{line} {name} -> {dst}")
    assert wrong == []


def test_import_linter_contract_is_kept():
    pytest.importorskip("importlinter")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-c",
                           "import sys; from importlinter.cli import lint_imports; "
                           "sys.exit(lint_imports(config_filename='pyproject.toml'))"],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Contracts: " in done.stdout and "0 broken" in done.stdout


def _is_kernel_module(module: str) -> bool:
    # jitted kernels are underscore names behind public wrappers (STYLE.md): importing
    # them from their *_kernels module is the one allowed crossing
    return "kernel" in module.rpartition(".")[2]


def test_no_private_names_cross_modules():
    wrong = []
    for name, tree in TREES.items():
        module_aliases = set()
        for module, item, line in _imported(name, tree):
            if not module.startswith("nlm"):
                continue
            if item and module + "." + item in MODULES:
                module_aliases.add(item)
            elif (item and item.startswith("_") and not item.startswith("__")
                  and not _is_kernel_module(module) and _owner(module) != name):
                wrong.append(f"{MODULES[name]}:{line} imports {module}.{item}")
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in module_aliases and node.attr.startswith("_")
                    and not node.attr.startswith("__")):
                wrong.append(f"{MODULES[name]}:{node.lineno} uses {node.value.id}.{node.attr}")
    assert wrong == []


def test_no_function_over_80_lines():
    long = []
    for name, tree in TREES.items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {length} lines")
    assert long == []
