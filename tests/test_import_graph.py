"""The core's import graph: no cycles (imports inside functions count), and the run path never
reaches the hosted server, the client, the command line or the test helpers."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import copass_router

SRC = Path(copass_router.__file__).parent.parent
# What the run path may never import: hosted mode, the remote client, the CLI, test helpers.
# The built-in plugins stand beside the core like any plugin: their CLI commands load CLI code
# when they run (what an echo run loads is checked by running one, below).
PLUGINS = ("copass_router.builtin",)
ABOVE_THE_CORE = (
    "copass_router.server",
    "copass_router.client",
    "copass_router.cli",
    "copass_router.testing",
)


def _modules() -> dict[str, Path]:
    found = {}
    for path in (SRC / "copass_router").rglob("*.py"):
        name = path.relative_to(SRC).with_suffix("").as_posix().replace("/", ".")
        found[name.removesuffix(".__init__")] = path
    return found


def _under(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _imports(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The core modules ``module`` imports when it runs, at any depth of its code (what only
    ``if TYPE_CHECKING:`` imports is for type checkers and does not count)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                targets.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                for alias in child.names:  # a name: a submodule, else the package's attribute
                    full = f"{base}.{alias.name}"
                    targets.add(full if full in known else base)
            visit(child)

    visit(ast.parse(path.read_text()))
    edges = set()
    for target in targets:
        parts = target.split(".")
        while parts and ".".join(parts) not in known:
            parts.pop()
        if parts and ".".join(parts) != module:
            edges.add(".".join(parts))
    return edges


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {name: _imports(name, path, known) for name, path in known.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
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
                        found.append(sorted(component))
    return found


def test_the_core_has_no_import_cycle() -> None:
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_one() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_the_core_never_imports_server_client_cli_or_testing() -> None:
    upward = {
        (module, target)
        for module, targets in _graph().items()
        if not _under(module, ABOVE_THE_CORE + PLUGINS)
        for target in targets
        if _under(target, ABOVE_THE_CORE)
    }
    assert upward == set()


def _loaded_after(code: str) -> list[str]:
    program = (
        "import sys\n"
        f"{code}\n"
        "print('\\n'.join(m for m in sys.modules if m.startswith('copass_router')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    return [m for m in result.stdout.split() if _under(m, ABOVE_THE_CORE)]


def test_importing_router_loads_no_server_client_cli_or_testing_code() -> None:
    assert _loaded_after("from copass_router import Router") == []


def test_an_echo_run_loads_no_server_client_cli_or_testing_code() -> None:
    code = (
        "import asyncio\n"
        "from copass_router import Router, TextDelta\n"
        "async def main():\n"
        "    async with Router(store=':memory:', load_entry_points=False) as router:\n"
        "        run = router.run(provider='echo', model='echo', message='hi')\n"
        "        assert [e async for e in run if isinstance(e, TextDelta)]\n"
        "asyncio.run(main())"
    )
    assert _loaded_after(code) == []


def test_the_pytest_plugin_loads_nothing_of_the_router_until_a_fixture_is_used() -> None:
    # pytest imports it at every start wherever copass-router is installed
    program = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import copass_router.testing.pytest_plugin\n"
        "print(' '.join(sorted(set(sys.modules) - before)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    loaded = result.stdout.split()
    assert "copass_router.testing.pytest_plugin" in loaded
    ours = [m for m in loaded if m.startswith("copass_router")]
    assert ours == ["copass_router", "copass_router.testing", "copass_router.testing.pytest_plugin"]
    assert "sqlite3" not in loaded
