"""Test helpers for copass-router and its plugins (also a pytest plugin: see pytest_plugin).

- :func:`scripted_reply`: the deterministic model behind ``echo`` and every emulator.
- :class:`ScriptedBackend`: a backend whose turns a test enqueues; :class:`ScriptedPlugin`
  registers it under a provider name.
- :class:`BackendConformance`: the contract every backend must pass; subclass it.
- :class:`StreamChecker` / :func:`check_stream`: the grammar of a run's stream, checked event by
  event (:class:`StreamGrammarError` names the rule and the events that broke it).
- The emulator kit, what every provider emulator is built on: :class:`EmulatorKit` (request
  log, the one fault API, event streams), :class:`LoopbackServer` (a test's emulator on a free
  loopback port), :func:`serve_emulator` (``copass-router emulate NAME``). It needs Starlette
  and uvicorn: the ``emulator`` extra. :class:`Faults`, :class:`RequestLog`,
  :class:`RecordedRequest` and :class:`StreamStats` need neither.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .faults import Faults
from .request_log import RecordedRequest, RequestLog, StreamStats
from .scripted_backend import ScriptedBackend, ScriptedPlugin, scripted_events
from .scripted_model import ModelReply, scripted_reply
from .stream_grammar import StreamChecker, StreamGrammarError, check_stream

if TYPE_CHECKING:
    from .conformance import BackendConformance, EmulatorProbe, KitProbe, conformance_lookup
    from .emulator_kit import EmulatorKit, LoopbackServer, serve_emulator

__all__ = [
    "BackendConformance",
    "EmulatorKit",
    "EmulatorProbe",
    "Faults",
    "KitProbe",
    "LoopbackServer",
    "ModelReply",
    "RecordedRequest",
    "RequestLog",
    "ScriptedBackend",
    "ScriptedPlugin",
    "StreamChecker",
    "StreamGrammarError",
    "StreamStats",
    "check_stream",
    "conformance_lookup",
    "scripted_events",
    "scripted_reply",
    "serve_emulator",
]

# Loaded on first use: the conformance suite imports pytest, the emulator kit Starlette.
_LAZY = {
    "BackendConformance": "conformance",
    "conformance_lookup": "conformance",
    "EmulatorProbe": "conformance",
    "KitProbe": "conformance",
    "EmulatorKit": "emulator_kit",
    "LoopbackServer": "emulator_kit",
    "serve_emulator": "emulator_kit",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{module}", __name__), name)
