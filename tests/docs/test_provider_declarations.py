"""docs/hosted.md's table of what a request may set per provider is the providers' declarations.

Each backend declares its own run fields (``request_fields``) and options (``request_options``,
with the operator's bound on each); the table between the markers in docs/hosted.md must be
exactly what they declare, so the one place that documents them cannot drift.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import copass_router_anthropic
import copass_router_google
import copass_router_openai

from copass_router import AgentBackend, Router
from copass_router._request_fields import type_names

DOC = Path(__file__).parents[2] / "docs" / "hosted.md"
START, END = "<!-- provider-declarations:start -->", "<!-- provider-declarations:end -->"
#: Enough for each backend to be built (no call is made).
ENV = {
    "ANTHROPIC_API_KEY": "sk-ant-doc",
    "OPENAI_API_KEY": "sk-doc",
    "GEMINI_API_KEY": "gm-doc",
    "GOOGLE_CLOUD_PROJECT": "doc-project",
}


def _row(*cells: str) -> str:
    return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|"


def _rows(provider: str, backend: AgentBackend) -> list[str]:
    rows = []
    for field in backend.request_fields:
        kind = f"field, {type_names(field.type)}" + (", required" if field.required else "")
        rows.append(_row(f"`{provider}`", f"`{field.name}`", kind, "", field.help))
    for name, option in sorted(backend.request_options.items()):
        kind = f"option, {type_names(option.type)}"
        rows.append(_row(f"`{provider}`", f"`options.{name}`", kind, option.operator, option.help))
    return rows or [_row(f"`{provider}`", "", "none", "", "")]


def _documented() -> str:
    text = DOC.read_text()
    match = re.search(re.escape(START) + r"\n(.*?)\n" + re.escape(END), text, re.S)
    assert match, f"docs/hosted.md has no {START} ... {END} table"
    return match.group(1)


async def test_the_table_is_what_the_providers_declare(
    make_router: Callable[..., Router],
) -> None:
    plugins = [copass_router_anthropic, copass_router_google, copass_router_openai]
    router = make_router(plugins=plugins, environ=ENV)
    lines = [
        "| Provider | Name | Kind and type | The operator's bound | What it is |",
        "|---|---|---|---|---|",
    ]
    for provider in sorted(router.plugins.providers()):
        lines += _rows(provider, await router.backend(provider))
    expected = "\n".join(lines)
    assert _documented() == expected, (
        "docs/hosted.md's provider table differs from the declarations; put this between the "
        f"markers:\n{expected}"
    )
