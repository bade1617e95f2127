"""Test helpers for copass-router and its plugins (also a pytest plugin: see pytest_plugin).

- :func:`scripted_reply`: the deterministic model behind ``echo`` and every emulator.
- :class:`ScriptedBackend`: a backend whose turns a test enqueues; :class:`ScriptedPlugin`
  registers it under a provider name.
- :class:`BackendConformance`: the contract every backend must pass; subclass it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .scripted_backend import ScriptedBackend, ScriptedPlugin, scripted_events
from .scripted_model import ModelReply, scripted_reply

if TYPE_CHECKING:
    from .conformance import BackendConformance, EmulatorProbe, conformance_lookup

__all__ = [
    "BackendConformance",
    "EmulatorProbe",
    "ModelReply",
    "ScriptedBackend",
    "ScriptedPlugin",
    "conformance_lookup",
    "scripted_events",
    "scripted_reply",
]


def __getattr__(name: str) -> Any:
    # The conformance suite imports pytest; load it only when a test asks for it.
    if name in ("BackendConformance", "EmulatorProbe", "conformance_lookup"):
        from . import conformance

        return getattr(conformance, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
