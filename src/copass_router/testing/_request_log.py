"""What an emulator received and what became of its event streams, for tests to assert on.

The log never holds a secret: credential headers are kept as a digest, so a test can still check
which key was sent (:meth:`RecordedRequest.sent`) without the key sitting in memory dumps,
failure reports or logs.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable, Iterator, Mapping
from fnmatch import fnmatchcase
from typing import Any, Literal, overload

import attrs

#: Headers whose values the log replaces with a digest.
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key", "cookie"}
)
#: Requests a long-running emulator keeps (the oldest half goes when the log is full).
MAX_LOGGED = 50_000


def redact(value: str) -> str:
    """How the log shows a secret header value: its scheme word, then a digest of the whole."""
    scheme, _, rest = value.partition(" ")
    digest = hashlib.sha256(value.encode()).hexdigest()[:12]
    prefix = f"{scheme} " if rest else ""
    return f"{prefix}<redacted sha256:{digest}>"


@attrs.frozen
class RecordedRequest:
    """One request as an emulator received it.

    ``headers`` are lower-cased with secrets redacted; ``query`` keeps repeated keys in order;
    ``body`` is the decoded JSON, the text when it was not JSON, or None when empty.
    """

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    headers: Mapping[str, str]
    body: Any = None

    @classmethod
    def build(
        cls,
        method: str,
        path: str,
        query: Iterable[tuple[str, str]],
        headers: Iterable[tuple[str, str]],
        raw_body: bytes,
    ) -> RecordedRequest:
        """A record from the raw request, redacting secret headers and decoding the body."""
        kept = {
            name.lower(): redact(value) if name.lower() in SECRET_HEADERS else value
            for name, value in headers
        }
        return cls(method.upper(), path, tuple(query), kept, _decode(raw_body))

    def sent(self, header: str, value: str) -> bool:
        """Whether this request carried ``header: value`` (secret headers compare digests)."""
        name = header.lower()
        expected = redact(value) if name in SECRET_HEADERS else value
        return self.headers.get(name) == expected

    def param(self, name: str) -> str | None:
        """The first query parameter called ``name``."""
        return next((v for k, v in self.query if k == name), None)


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


class RequestLog:
    """Every request an emulator received, in order. Thread-safe; reads return copies."""

    def __init__(self, limit: int = MAX_LOGGED) -> None:
        self._lock = threading.Lock()
        self._items: list[RecordedRequest] = []
        self._limit = limit

    def append(self, request: RecordedRequest) -> None:
        """Log a request; a full log forgets its oldest half."""
        with self._lock:
            self._items.append(request)
            if len(self._items) > self._limit:
                del self._items[: self._limit // 2]

    def matching(
        self, path: str | None = None, *, method: str | None = None
    ) -> list[RecordedRequest]:
        """Logged requests whose path matches the glob ``path`` and with this ``method``."""
        return [
            r
            for r in self
            if (method is None or r.method == method.upper())
            and (path is None or fnmatchcase(r.path, path))
        ]

    def clear(self) -> None:
        """Forget every logged request."""
        with self._lock:
            self._items.clear()

    def __iter__(self) -> Iterator[RecordedRequest]:
        with self._lock:
            return iter(list(self._items))

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    @overload
    def __getitem__(self, index: int) -> RecordedRequest: ...
    @overload
    def __getitem__(self, index: slice) -> list[RecordedRequest]: ...
    def __getitem__(self, index: int | slice) -> RecordedRequest | list[RecordedRequest]:
        with self._lock:
            return self._items[index]


StreamOutcome = Literal["completed", "cut", "abandoned"]


@attrs.define
class StreamStats:
    """What became of an emulator's event streams.

    ``abandoned``: the client went away (or the server stopped) before the stream ended, as when
    a consumer breaks out of a run and the backend closes the provider's stream.
    """

    opened: int = 0
    completed: int = 0
    cut: int = 0
    abandoned: int = 0
    _lock: threading.Lock = attrs.field(factory=threading.Lock, repr=False, eq=False)

    def count(self, outcome: StreamOutcome | Literal["opened"]) -> None:
        """Count one stream opened or ended."""
        with self._lock:
            setattr(self, outcome, getattr(self, outcome) + 1)

    def reset(self) -> None:
        """Back to zero."""
        with self._lock:
            self.opened = self.completed = self.cut = self.abandoned = 0
