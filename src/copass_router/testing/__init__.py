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
- :class:`CutProxy`: a loopback proxy that cuts responses, to test a client's resume; it also
  tells which requests each connection carried.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from copass_router.builtin._scripted_model import ModelReply, scripted_reply
    from copass_router.testing._conformance import (
        BackendConformance,
        EmulatorProbe,
        KitProbe,
        conformance_lookup,
    )
    from copass_router.testing._cut_proxy import CutProxy
    from copass_router.testing._emulator_kit import EmulatorKit, LoopbackServer, serve_emulator
    from copass_router.testing._faults import Faults
    from copass_router.testing._request_log import RecordedRequest, RequestLog, StreamStats
    from copass_router.testing._sample_parts import SAMPLE_PDF, SAMPLE_PNG, pdf, png
    from copass_router.testing._schema_checks import schema_problems
    from copass_router.testing._scripted_backend import (
        ScriptedBackend,
        ScriptedPlugin,
        scripted_events,
    )
    from copass_router.testing._stream_grammar import (
        StreamChecker,
        StreamGrammarError,
        check_stream,
    )

__all__ = [
    "SAMPLE_PDF",
    "SAMPLE_PNG",
    "BackendConformance",
    "CutProxy",
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
    "pdf",
    "png",
    "schema_problems",
    "scripted_events",
    "scripted_reply",
    "serve_emulator",
]

# Every name is loaded on first use: pytest imports this package at every start (the pytest
# plugin lives here), and the conformance suite imports pytest, the emulator kit Starlette.
_LAZY = {
    "ModelReply": "copass_router.builtin._scripted_model",
    "scripted_reply": "copass_router.builtin._scripted_model",
    "CutProxy": "_cut_proxy",
    "SAMPLE_PDF": "_sample_parts",
    "SAMPLE_PNG": "_sample_parts",
    "pdf": "_sample_parts",
    "png": "_sample_parts",
    "Faults": "_faults",
    "RecordedRequest": "_request_log",
    "RequestLog": "_request_log",
    "StreamStats": "_request_log",
    "ScriptedBackend": "_scripted_backend",
    "ScriptedPlugin": "_scripted_backend",
    "scripted_events": "_scripted_backend",
    "BackendConformance": "_conformance",
    "conformance_lookup": "_conformance",
    "EmulatorProbe": "_conformance",
    "KitProbe": "_conformance",
    "EmulatorKit": "_emulator_kit",
    "LoopbackServer": "_emulator_kit",
    "serve_emulator": "_emulator_kit",
    "StreamChecker": "_stream_grammar",
    "StreamGrammarError": "_stream_grammar",
    "check_stream": "_stream_grammar",
    "schema_problems": "_schema_checks",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    relative = not module.startswith("copass_router.")
    value = getattr(importlib.import_module(f".{module}" if relative else module, __name__), name)
    globals()[name] = value  # the next access is a plain module attribute
    return value
