"""How many runs a worker streams at once, in all and per API key (tenant), and how many
resumed readers (``GET /v1/runs/{id}/events``) it serves per run and per API key.

A run or reader over a cap is refused before anything starts, with 429 and ``Retry-After``, so
one tenant cannot take every slot of a worker, and a worker cannot take on more than it can
serve. The caps are per process: N workers behind a load balancer admit N times as many.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from copass_router._errors import ConfigurationError, RateLimitError

MAX_RUNS = 1024
MAX_RUNS_PER_KEY = 256
MAX_READERS_PER_RUN = 32
MAX_READERS_PER_KEY = 256
MAX_READERS_PER_RUN_ENV = "COPASS_ROUTER_MAX_READERS_PER_RUN"
MAX_READERS_PER_KEY_ENV = "COPASS_ROUTER_MAX_READERS_PER_KEY"
MAX_RUNS_ENV = "COPASS_ROUTER_MAX_RUNS"
MAX_RUNS_PER_KEY_ENV = "COPASS_ROUTER_MAX_RUNS_PER_KEY"
RETRY_AFTER_SECONDS = 1


class TooManyRunsError(RateLimitError):
    """A cap on runs in flight is reached; retry in a moment."""

    def __init__(self, whose: str, what: str = "runs in flight") -> None:
        super().__init__(
            f"{whose} has as many {what} as this router allows; "
            f"retry after {RETRY_AFTER_SECONDS} s",
            retry_after=RETRY_AFTER_SECONDS,
        )


@attrs.frozen
class RunLimits:
    """Caps on runs in flight. None means no cap.

    :param max_runs: runs one worker streams at once, all keys together.
    :param max_runs_per_key: runs one API key has in flight at once on one worker (keyless
        mode counts as one key).
    :param max_readers_per_run: resumed streams of one run one worker serves at once.
    :param max_readers_per_key: resumed streams of one API key's runs one worker serves at once.
    """

    max_runs: int | None = MAX_RUNS
    max_runs_per_key: int | None = MAX_RUNS_PER_KEY
    max_readers_per_run: int | None = MAX_READERS_PER_RUN
    max_readers_per_key: int | None = MAX_READERS_PER_KEY

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> RunLimits:
        """Caps from ``COPASS_ROUTER_MAX_RUNS`` / ``COPASS_ROUTER_MAX_RUNS_PER_KEY`` (``0``: no
        cap), the defaults where they are unset."""
        return cls(
            _cap(environ, MAX_RUNS_ENV, MAX_RUNS),
            _cap(environ, MAX_RUNS_PER_KEY_ENV, MAX_RUNS_PER_KEY),
            _cap(environ, MAX_READERS_PER_RUN_ENV, MAX_READERS_PER_RUN),
            _cap(environ, MAX_READERS_PER_KEY_ENV, MAX_READERS_PER_KEY),
        )


def _cap(environ: Mapping[str, str], name: str, default: int) -> int | None:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9):
        raise ConfigurationError(f"{name} must be a whole number (0: no cap), not {raw[:20]!r}")
    return int(raw) or None


class RunSlots:
    """The runs in flight, counted in all and per key."""

    def __init__(self, limits: RunLimits) -> None:
        self.limits = limits
        self._total = 0
        self._per_key: dict[str | None, int] = {}

    def acquire(self, key_id: str | None) -> None:
        """Take a slot for a run of ``key_id``, or raise :class:`TooManyRunsError`."""
        held = self._per_key.get(key_id, 0)
        per_key = self.limits.max_runs_per_key
        if per_key is not None and held >= per_key:
            raise TooManyRunsError("this API key")
        if self.limits.max_runs is not None and self._total >= self.limits.max_runs:
            raise TooManyRunsError("this router instance")
        self._per_key[key_id] = held + 1
        self._total += 1

    def release(self, key_id: str | None) -> None:
        """Give back a slot taken with :meth:`acquire`."""
        held = self._per_key.get(key_id, 0) - 1
        if held > 0:
            self._per_key[key_id] = held
        else:
            self._per_key.pop(key_id, None)
        self._total = max(self._total - 1, 0)


class ReaderSlots:
    """The resumed streams being served, counted per run and per key."""

    def __init__(self, limits: RunLimits) -> None:
        self.limits = limits
        self._per_run: dict[str, int] = {}
        self._per_key: dict[str | None, int] = {}

    def acquire(self, run_id: str, key_id: str | None) -> None:
        """Take a reader's slot, or raise :class:`TooManyRunsError`."""
        on_run, of_key = self._per_run.get(run_id, 0), self._per_key.get(key_id, 0)
        per_run, per_key = self.limits.max_readers_per_run, self.limits.max_readers_per_key
        if per_run is not None and on_run >= per_run:
            raise TooManyRunsError("this run", "readers")
        if per_key is not None and of_key >= per_key:
            raise TooManyRunsError("this API key", "resumed streams")
        self._per_run[run_id] = on_run + 1
        self._per_key[key_id] = of_key + 1

    def release(self, run_id: str, key_id: str | None) -> None:
        """Give back a slot taken with :meth:`acquire`."""
        _drop(self._per_run, run_id)
        _drop(self._per_key, key_id)


def _drop(counts: dict[Any, int], name: Any) -> None:
    left = counts.get(name, 0) - 1
    if left > 0:
        counts[name] = left
    else:
        counts.pop(name, None)
