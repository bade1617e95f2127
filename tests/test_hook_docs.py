"""docs/plugin-hooks.md against the code: every hook has a section showing its full signature
(and, for registration hooks, its ``register`` Protocol's), and those match hookspecs.py."""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest

import copass_router
from copass_router import Router
from copass_router.plugin_host import _hookspecs as hookspecs


def _router() -> Router:
    return Router(store=":memory:", environ={}, load_entry_points=False)


HOOK_DOCS = Path(__file__).parents[1] / "docs" / "plugin-hooks.md"


def _doc_sections() -> dict[str, str]:
    """Each ``### `hook` `` section of docs/plugin-hooks.md, by hook name."""
    parts = re.split(r"^##+ `?(copass_router_\w+)`?.*$", HOOK_DOCS.read_text(), flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def _documented(section: str) -> dict[str, ast.FunctionDef | ast.ClassDef]:
    """The definitions in a section's first python block."""
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block, "no python block with the signature"
    tree = ast.parse(block[1])
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)}


def _shape(node: ast.FunctionDef) -> tuple[str, str, list[str]]:
    """What a signature says: its parameters (names, kinds, annotations, defaults), its return
    annotation and its decorators, normalised through ``ast.unparse``."""
    returns = ast.unparse(node.returns) if node.returns else ""
    return ast.unparse(node.args), returns, [ast.unparse(d) for d in node.decorator_list]


def _real(obj: object, name: str) -> ast.FunctionDef:
    (node,) = [
        n
        for n in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(obj))))
        if isinstance(n, ast.FunctionDef) and n.name == name
    ]
    return node


def test_every_hook_is_documented() -> None:
    router = _router()
    hooks = {name for name in dir(router.plugins.pm.hook) if name.startswith("copass_router_")}
    assert hooks == {name for name in vars(hookspecs) if name.startswith("copass_router_")}
    sections = _doc_sections()
    assert hooks <= set(sections), f"undocumented hooks: {sorted(hooks - set(sections))}"


@pytest.mark.parametrize("name", sorted(n for n in vars(hookspecs) if n.startswith("copass_")))
def test_each_hook_doc_shows_its_full_signature(name: str) -> None:
    spec = getattr(hookspecs, name)
    documented = _documented(_doc_sections()[name])
    node = documented.get(name)
    assert isinstance(node, ast.FunctionDef), f"{name}: the signature is not shown"
    assert _shape(node) == _shape(_real(spec, name)), f"{name}: the docs differ from hookspecs.py"
    params = [a.arg for a in node.args.args]
    assert params == list(inspect.signature(spec).parameters)
    firstresult = _spec_opts(name)["firstresult"]
    assert ("firstresult=True" in ast.unparse(node.decorator_list[0])) is firstresult
    for param, annotation in inspect.get_annotations(spec).items():
        protocol = getattr(copass_router, annotation, None) if param == "register" else None
        if protocol is None:
            continue
        shown = documented.get(annotation)
        assert isinstance(shown, ast.ClassDef), f"{name}: {annotation}'s signature is not shown"
        (call,) = [n for n in shown.body if isinstance(n, ast.FunctionDef)]
        assert _shape(call) == _shape(_real(protocol, "__call__")), f"{annotation} differs"


def _spec_opts(name: str) -> Mapping[str, object]:
    caller = _router().plugins.pm.hook.__dict__[name]
    assert caller.spec is not None
    opts: Mapping[str, object] = caller.spec.opts
    return opts
