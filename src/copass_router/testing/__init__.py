"""Test helpers for copass-router and its plugins (also a pytest plugin: see pytest_plugin).

- :func:`scripted_reply`: the deterministic model behind ``echo`` and every emulator.
- :class:`ScriptedBackend`: a backend whose events a test enqueues.
- :class:`BackendConformance`: the contract every backend must pass; subclass it.
"""

from __future__ import annotations

from .scripted_model import ModelReply, scripted_reply

__all__ = ["ModelReply", "scripted_reply"]
