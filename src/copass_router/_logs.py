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
    """Builds the structlog logger on first use: importing structlog costs tens of ms.

    A line below its logger's level is dropped before structlog sees it (a turn writes several
    info lines; under the default WARNING level each cost ~20 µs of rendering for nothing).
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._logger: Any = None
        self._stdlib: Any = None

    def _structlog(self) -> Any:
        if self._logger is None:
            import logging

            import structlog

            self._stdlib = logging.getLogger(self._name)
            self._logger = structlog.wrap_logger(
                self._stdlib,
                processors=[
                    structlog.stdlib.filter_by_level,
                    structlog.stdlib.add_log_level,
                    redact,
                    structlog.processors.KeyValueRenderer(key_order=["event"], sort_keys=True),
                ],
                wrapper_class=structlog.stdlib.BoundLogger,
            )
        return self._logger

    def _log(self, level: int, method: str, event: str, kw: dict[str, Any]) -> None:
        logger = self._structlog()
        if self._stdlib.isEnabledFor(level):
            getattr(logger, method)(event, **kw)

    def debug(self, event: str, **kw: Any) -> None:
        self._log(10, "debug", event, kw)

    def info(self, event: str, **kw: Any) -> None:
        self._log(20, "info", event, kw)

    def warning(self, event: str, **kw: Any) -> None:
        self._log(30, "warning", event, kw)

    def error(self, event: str, **kw: Any) -> None:
        self._log(40, "error", event, kw)

    def __getattr__(self, method: str) -> Any:
        return getattr(self._structlog(), method)


def get_logger(name: str) -> Any:
    """A structlog logger writing through ``logging.getLogger(name)``, secrets redacted."""
    return _LazyLogger(name)
