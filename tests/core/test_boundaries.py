"""The shape of the core package: free of Airflow and of import cycles, small modules, documented packages.

The core (``include/custody``) runs from the CLI, tests and other schedulers, so it never imports
Airflow. Imports are read from the source (AST), including those inside functions and under
``if TYPE_CHECKING``: a lazy import hides a cycle from the interpreter, not from the reader.
"""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from collections import deque
from pathlib import Path

import custody

CORE = Path(custody.__file__).parent
MAX_LINES = 600


def _modules() -> dict[str, Path]:
    """``{dotted module name: path}`` of every ``.py`` file under the package."""
    found = {}
    for path in sorted(CORE.rglob("*.py")):
        parts = path.relative_to(CORE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _imported_names(name: str, path: Path) -> list[str]:
    """Absolute dotted names a module imports (``from a import b`` gives ``a.b``), anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names += [f"{base}.{a.name}" for a in node.names]
    return names


def import_graph() -> dict[str, set[str]]:
    """``{module: modules of this package it imports}``.

    A name resolves to the longest module it starts with, so ``from custody.crypto import
    open_keyring`` is an edge to the package ``custody.crypto`` and ``from custody.crypto.kms
    import KmsKeyring`` one to ``custody.crypto.kms``. Self-imports are dropped.
    """
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = set()
        for imported in _imported_names(name, path):
            target = imported
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                edges.add(target)
        graph[name] = edges
    return graph


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Components of more than one module (Tarjan, iterative), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            advanced = False
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def _shortest_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """A shortest cycle through the first module of ``component``, as ``[a, b, ..., a]`` (breadth-first)."""
    start, members = component[0], set(component)
    parent: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(graph[node] & members):
            if nxt == start:
                path = [node]
                while parent[path[-1]] is not None:
                    path.append(parent[path[-1]])
                return [*reversed(path), start]
            if nxt not in parent:
                parent[nxt] = node
                queue.append(nxt)
    raise AssertionError(f"no cycle through {start}")


def test_import_walker_sees_lazy_and_relative_imports(tmp_path):
    graph = import_graph()
    assert "custody.crypto.scopes" in graph["custody.crypto.open"]  # imported inside open_keyring
    assert "custody.catalog.schema" in graph["custody.catalog"]
    module = tmp_path / "ledger.py"
    module.write_text(
        "from ..catalog import schema\n\n\ndef f():\n    from . import backends\n    import custody.drill\n")
    assert _imported_names("custody.store.ledger", module) == [
        "custody.catalog.schema", "custody.store.backends", "custody.drill"]
    assert _shortest_cycle({"a": {"b"}, "b": {"c", "a"}, "c": {"a"}}, ["a", "b", "c"]) == ["a", "b", "a"]
    assert _strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    graph = import_graph()
    cycles = [" -> ".join(_shortest_cycle(graph, c)) + f"   (component: {', '.join(c)})"
              for c in _strongly_connected(graph)]
    assert not cycles, "import cycles in include/custody:\n  " + "\n  ".join(cycles)


def test_no_module_above_600_lines():
    long = {
        str(path.relative_to(CORE.parent)): n
        for path in _modules().values()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules above {MAX_LINES} lines (split them): " + ", ".join(
        f"{p} ({n})" for p, n in sorted(long.items()))


def test_every_package_init_has_a_docstring():
    bare = [
        str(path.relative_to(CORE.parent))
        for path in sorted(CORE.rglob("__init__.py"))
        if not ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert bare == [], f"package __init__.py without a docstring: {bare}"


def test_no_airflow_import_in_source():
    offenders = []
    for path in CORE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(CORE)}: {n}" for n in names if n.split(".")[0] == "airflow"]
    assert offenders == []


def test_importing_every_core_module_loads_no_airflow():
    # Alembic migration scripts run inside Alembic's context, never by import.
    modules = [m.name for m in pkgutil.walk_packages([str(CORE)], prefix="custody.") if ".migrations" not in m.name]
    assert len(modules) > 15
    code = "import sys\n" + "".join(f"import {m}\n" for m in modules) + (
        "print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
