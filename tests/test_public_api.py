"""The package root: every public name resolves, lazily, to the object its submodule defines."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import copass_router

INIT = Path(copass_router.__file__)


def _static_imports() -> dict[str, str]:
    """Name -> submodule (relative to the package), from the ``if TYPE_CHECKING:`` imports
    type checkers read."""
    names: dict[str, str] = {}
    for node in ast.walk(ast.parse(INIT.read_text())):
        module = node.module if isinstance(node, ast.ImportFrom) else None
        if module and module.startswith("copass_router."):
            relative = module.removeprefix("copass_router.")
            names.update({alias.name: relative for alias in node.names})
    return names


def test_the_lazy_table_the_static_imports_and_all_agree() -> None:
    table = copass_router._WHERE
    assert sorted(table) == sorted(copass_router.__all__)
    assert _static_imports() == table


def test_every_public_name_is_its_submodules_object() -> None:
    for name, module in copass_router._WHERE.items():
        expected = getattr(importlib.import_module(f"copass_router.{module}"), name)
        assert getattr(copass_router, name) is expected, name
    assert set(copass_router.__all__) <= set(dir(copass_router))


def test_an_unknown_name_raises_attribute_error() -> None:
    try:
        copass_router.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("no AttributeError")


def test_a_plugin_module_importing_hookimpl_loads_neither_asyncio_nor_attrs() -> None:
    code = (
        "import sys\n"
        "from copass_router import BackendRegistrar, hookimpl\n"
        "print(sorted(m for m in ('asyncio', 'attr', 'sqlite3') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- docs/api.md sorts the public names by audience ---------------------------------------

import re  # noqa: E402

import copass_router.testing  # noqa: E402

DOC = (Path(__file__).parents[1] / "docs" / "api.md").read_text()


def _sections() -> dict[str, set[str]]:
    """Per section, the names each bullet (or each ``;`` clause of one) lists before ``: ``."""
    found: dict[str, set[str]] = {}
    for part in re.split(r"^## ", DOC, flags=re.M)[1:]:
        title, _, body = part.partition("\n")
        bullets = re.findall(r"^- (.*?(?:\n  .*?)*)$", body, flags=re.M)
        names: set[str] = set()
        for bullet in bullets:
            for clause in bullet.replace("\n", " ").split("; "):
                head = clause.split(": ", 1)[0]
                names |= set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", head))
        found[title] = names
    return found


def test_every_public_name_is_in_exactly_one_audience() -> None:
    sections = _sections()
    core = {t: names & set(copass_router.__all__) for t, names in sections.items()}
    listed = [n for names in core.values() for n in names]
    assert sorted(listed) == sorted(set(listed)), "a name in two audiences"
    assert set(listed) == set(copass_router.__all__)


def test_the_testing_section_lists_copass_router_testing() -> None:
    (testing,) = [names for title, names in _sections().items() if "testing" in title]
    assert set(copass_router.testing.__all__) <= testing


def test_every_listed_name_exists() -> None:
    public = set(copass_router.__all__) | set(copass_router.testing.__all__)
    for names in _sections().values():
        assert names <= public, names - public
