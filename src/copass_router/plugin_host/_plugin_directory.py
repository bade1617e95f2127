"""The plugin directory: the provider plugins this project knows, and the only ones it names.

Install advice (the unknown-provider error, ``copass-router install NAME``) comes from this list
and never from what a user typed: a typo turned into a package name sends users to whoever
registers that name on the package index. docs/plugins.md shows the same list (a test keeps the
two in step); a third-party plugin joins once it is vetted.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import attrs

DIRECTORY_DOC = "docs/plugins.md"


@attrs.frozen
class PluginEntry:
    """One known plugin: its directory name, the distribution to install, what it provides."""

    name: str
    distribution: str
    description: str
    providers: tuple[str, ...]


DIRECTORY: tuple[PluginEntry, ...] = (
    PluginEntry(
        "anthropic",
        "copass-router-anthropic",
        "Claude Managed Agents (agents, environments, sessions) via the anthropic SDK",
        ("anthropic",),
    ),
    PluginEntry(
        "google",
        "copass-router-google",
        "Vertex AI Agent Engine (deployed ADK agents) and Gemini's Interactions API (models "
        "and managed agents)",
        ("gemini-agents", "google"),
    ),
    PluginEntry(
        "openai",
        "copass-router-openai",
        "OpenAI Chat Completions, OpenAI-compatible runtimes (Ollama, vLLM, llama.cpp) and the "
        "OpenAI Agents API's managed agents",
        ("openai", "openai-agents", "openai-compatible"),
    ),
    PluginEntry(
        "otel",
        "copass-router-otel",
        "OpenTelemetry GenAI traces and metrics of every run (no provider of its own)",
        (),
    ),
)


def find_plugin(name: str) -> PluginEntry | None:
    """The entry whose directory name, distribution or provider is ``name`` exactly, or None."""
    for entry in DIRECTORY:
        if name in (entry.name, entry.distribution, *entry.providers):
            return entry
    return None


def nearest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``name`` (a likely typo), or None when nothing is close."""
    by_folded = {c.casefold(): c for c in candidates}
    matches = difflib.get_close_matches(name.casefold(), list(by_folded), n=1, cutoff=0.7)
    return by_folded[matches[0]] if matches else None


def known_names() -> list[str]:
    """Every name ``find_plugin`` accepts, for suggestions."""
    return sorted({n for e in DIRECTORY for n in (e.name, e.distribution, *e.providers)})
