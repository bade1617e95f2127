"""Logging: structlog on top of the standard library, with secrets redacted before output.

The router never configures the host's logging; it logs through ``logging`` loggers, so the
host decides where lines go. Every event dict passes :func:`redact` first.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

_SECRET_KEYS = re.compile(
    r"(api[_-]?key|token|secret|password|authorization|credential|cookie)", re.IGNORECASE
)
_SECRET_VALUES = re.compile(
    r"(sk-[A-Za-z0-9_\-]{8,}|Bearer\s+[A-Za-z0-9._\-~+/=]{8,}|AIza[0-9A-Za-z_\-]{20,}"
    r"|ya29\.[0-9A-Za-z_\-.]+|cpt1\.[A-Za-z0-9._\-]+)"
)
REDACTED = "[redacted]"


def scrub(text: str) -> str:
    """``text`` with anything that looks like a key or token replaced."""
    return _SECRET_VALUES.sub(REDACTED, text)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {
            k: REDACTED if _SECRET_KEYS.search(str(k)) else _redact_value(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(v) for v in value)
    return value


def redact(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    """structlog processor: drop secret-named fields' values, scrub secret-looking strings."""
    for key in list(event_dict):
        if _SECRET_KEYS.search(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _redact_value(event_dict[key])
    return event_dict


class _LazyLogger:
    """Builds the structlog logger on first use: importing structlog costs tens of ms."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._logger: Any = None

    def __getattr__(self, method: str) -> Any:
        if self._logger is None:
            import logging

            import structlog

            self._logger = structlog.wrap_logger(
                logging.getLogger(self._name),
                processors=[
                    structlog.stdlib.add_log_level,
                    redact,
                    structlog.processors.KeyValueRenderer(key_order=["event"], sort_keys=True),
                ],
                wrapper_class=structlog.stdlib.BoundLogger,
            )
        return getattr(self._logger, method)


def get_logger(name: str) -> Any:
    """A structlog logger writing through ``logging.getLogger(name)``, secrets redacted."""
    return _LazyLogger(name)
