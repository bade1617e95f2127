"""Bounds on connections, below the ASGI app: how many, how long a request may take to arrive.

uvicorn closes idle keep-alive connections, but a connection that never sends a byte, trickles
its headers or trickles a body is kept open for ever, and nothing caps how many it holds. The
protocol here adds what a server facing untrusted clients needs:

- a cap on open connections; past it, the oldest connection that has not yet sent a whole
  request is closed to make room (the new one is closed only when there is none), so sockets
  that send nothing cannot lock out clients that do;
- an idle timeout for a connection's first byte, and a cap per client address on connections
  that have not yet sent a whole request (past it, that address's oldest is closed);
- a header timeout, from the connection's start or the request's first byte to the end of its
  headers, and a cap on the headers' size (431);
- a body timeout, from the end of the headers to the end of the body.

A timed-out request is answered 408 when nothing has been sent yet, and the connection is closed.
The response side is not timed: a streamed run may last as long as its turn does.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import socket
from collections.abc import Mapping
from typing import Any

import attrs
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from copass_router._errors import ConfigurationError
from copass_router._logs import get_logger

log = get_logger("copass_router.server")

MAX_CONNECTIONS = 1000  # below the usual 1,024 descriptors a process may open
MAX_CONNECTIONS_ENV = "COPASS_ROUTER_MAX_CONNECTIONS"
HEADER_TIMEOUT = 10.0
BODY_TIMEOUT = 30.0
MAX_HEADER_BYTES = 64 * 1024
IDLE_TIMEOUT = 3.0
MAX_UNPROVEN_PER_ADDRESS = 32
#: Seconds an address may hold more unproven connections than its cap before the silent ones
#: are closed: a burst of requests is accepted before any of them is read.
UNPROVEN_GRACE = 0.25
#: The kernel's send buffer per connection (Linux doubles it): what a client that stops reading
#: can hold of the worker's memory outside the process; past it the response waits for it.
SEND_BUFFER_BYTES = 256 * 1024


@attrs.frozen
class ConnectionLimits:
    """The bounds one server applies to every connection.

    :param max_connections: open connections at most; more are closed as they arrive.
    :param header_timeout: seconds for a request's line and headers to arrive.
    :param body_timeout: seconds for a request's body to arrive, once its headers have.
    :param max_header_bytes: a request line and headers larger than this are refused (431).
    :param idle_timeout: seconds a new connection may wait before its first byte.
    :param max_unproven_per_address: connections from one client address that have not yet
        sent a whole request (headers included); past it for longer than a short grace
        (``UNPROVEN_GRACE``), and with the worker over half its connection cap, that
        address's oldest silent ones are closed (one whose request has begun is left to the
        header timeout).
    :param send_buffer_bytes: the kernel's send buffer of each connection (None: the system's
        default, which grows to megabytes for a client that does not read).
    """

    max_connections: int = MAX_CONNECTIONS
    header_timeout: float = HEADER_TIMEOUT
    body_timeout: float = BODY_TIMEOUT
    max_header_bytes: int = MAX_HEADER_BYTES
    send_buffer_bytes: int | None = SEND_BUFFER_BYTES
    idle_timeout: float = IDLE_TIMEOUT
    max_unproven_per_address: int = MAX_UNPROVEN_PER_ADDRESS

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> ConnectionLimits:
        """The defaults, with ``COPASS_ROUTER_MAX_CONNECTIONS`` as the connection cap if set."""
        raw = environ.get(MAX_CONNECTIONS_ENV, "").strip()
        if not raw:
            return cls()
        if not (raw.isascii() and raw.isdigit() and 0 < len(raw) <= 7 and int(raw) > 0):
            raise ConfigurationError(f"{MAX_CONNECTIONS_ENV} must be a whole number above 0")
        return cls(max_connections=int(raw))

    def protocol(self) -> type[asyncio.Protocol]:
        """The uvicorn HTTP protocol class applying these limits."""
        # Each server gets its own class, and with it its own books of unproven connections.
        return type(
            "BoundedHttpProtocol",
            (BoundedHttpProtocol,),
            {
                "limits": self,
                "unproven": collections.OrderedDict(),
                "by_address": {},
                "trimming": set(),
            },
        )


def _oldest_idle(
    connections: collections.OrderedDict[BoundedHttpProtocol, None],
) -> BoundedHttpProtocol | None:
    """The oldest of ``connections`` that has sent nothing (None: each has a request coming)."""
    return next((c for c in connections if c._sent_nothing()), None)


class _HeadersTooLarge(Exception):
    """Raised from a parser callback to stop a request whose headers are over the cap."""


def _status(code: int, reason: str) -> bytes:
    return (f"HTTP/1.1 {code} {reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").encode()


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with :class:`ConnectionLimits` applied."""

    limits: ConnectionLimits = ConnectionLimits()
    #: Connections that have not sent a whole request's headers yet, oldest first.
    unproven: collections.OrderedDict[BoundedHttpProtocol, None] = collections.OrderedDict()
    by_address: dict[str, collections.OrderedDict[BoundedHttpProtocol, None]] = {}
    #: Addresses over their cap whose trim is scheduled.
    trimming: set[str] = set()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        self._parsed_bytes = 0  # the request line and headers as parsed (however they arrived)
        self._oversize = False
        self._in_headers = True
        self._address = ""
        self._got_bytes = False
        self._opened = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._opened = self.loop.time()
        peer = transport.get_extra_info("peername")
        self._address = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        if len(self.connections) > self.limits.max_connections:
            idle = _oldest_idle(self.unproven)
            if idle is None:
                log.warning("connection_refused", reason="too_many_connections")
                transport.close()
                return
            log.warning("connection_evicted", reason="too_many_connections")
            idle._evict()
        self.unproven[self] = None
        mine = self.by_address.setdefault(self._address, collections.OrderedDict())
        mine[self] = None
        if len(mine) > self.limits.max_unproven_per_address and self._address not in self.trimming:
            # Not at once: a burst's sockets are all accepted before any is read, and their
            # requests are on the way. Those still silent after the grace go, oldest first.
            self.trimming.add(self._address)
            self.loop.call_later(UNPROVEN_GRACE, self._trim, self._address)
        sock = transport.get_extra_info("socket")
        if self.limits.send_buffer_bytes is not None and sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.limits.send_buffer_bytes)
        self._arm(min(self.limits.idle_timeout, self.limits.header_timeout))

    def _trim(self, address: str) -> None:
        """Close ``address``'s silent connections past its cap of unproven ones, oldest first,
        once the worker holds more than half its connection cap (below that, the idle timeout
        closes silent sockets: a client's burst may take a while to send its requests). One
        whose request has begun is load the worker has yet to read, not an idle socket: it
        stays (the header timeout ends one that never finishes)."""
        self.trimming.discard(address)
        if len(self.connections) <= self.limits.max_connections // 2:
            return  # room to spare: the idle timeout is enough for silent sockets
        mine = self.by_address.get(address)
        while mine and len(mine) > self.limits.max_unproven_per_address:
            idle = _oldest_idle(mine)
            if idle is None:
                return
            log.warning("connection_evicted", reason="too_many_idle_from_address")
            idle._evict()

    def _sent_nothing(self) -> bool:
        """No byte of a request has arrived, not even one the worker has yet to read."""
        if self._got_bytes or self.transport.is_closing():
            return not self._got_bytes
        sock = self.transport.get_extra_info("socket")
        if sock is None:
            return True
        try:  # a peek on a duplicate of the descriptor: the transport's socket is left alone
            with socket.socket(fileno=os.dup(sock.fileno())) as peek:
                return not peek.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return True  # nothing waiting
        except OSError:
            return True

    def _proven(self) -> None:
        """It sent a whole request's headers: no longer one of the unproven."""
        self.unproven.pop(self, None)
        mine = self.by_address.get(self._address)
        if mine is not None:
            mine.pop(self, None)
            if not mine:
                del self.by_address[self._address]

    def _evict(self) -> None:
        self._proven()
        self._disarm()
        self.connections.discard(self)
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._proven()
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._got_bytes:  # no longer idle: the header timeout runs, from the start
            self._got_bytes = True
            if self.limits.idle_timeout < self.limits.header_timeout and self._deadline is not None:
                left = self.limits.header_timeout - (self.loop.time() - self._opened)
                self._arm(max(left, 0.01))
        if self._in_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        # Checked after parsing: one read may hold the end of the headers and the body's start.
        if self._in_headers and self._header_bytes > self.limits.max_header_bytes:
            self._refuse(431, "Request Header Fields Too Large")

    def on_url(self, url: bytes) -> None:
        self._parsed_bytes += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._parsed_bytes += len(name) + len(value) + 4  # ": " and CRLF
        super().on_header(name, value)

    def send_400_response(self, msg: str) -> None:
        if not self._oversize:  # refused with 431 already
            super().send_400_response(msg)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._parsed_bytes = 0
        self._in_headers = True
        if self._deadline is None:  # a keep-alive connection's next request
            self._arm(self.limits.header_timeout)

    def on_headers_complete(self) -> None:
        if self._parsed_bytes > self.limits.max_header_bytes:
            # The headers came whole in one read: refuse them before the app sees them.
            self._oversize = True
            self._refuse(431, "Request Header Fields Too Large")
            raise _HeadersTooLarge
        self._proven()
        self._in_headers = False
        self._header_bytes = 0
        self._arm(self.limits.body_timeout)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_headers = True  # what arrives next is the next request's headers
        self._header_bytes = 0
        super().on_message_complete()

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        log.info("connection_timed_out", stage="headers" if self._in_headers else "body")
        self._refuse(408, "Request Timeout")

    def _refuse(self, code: int, reason: str) -> None:
        self._disarm()
        if self.transport.is_closing():
            return
        # While headers arrive no response is under way; once they are in, the app may have
        # started one, and a status line in the middle of it would corrupt it.
        if self._in_headers or not (self.cycle and self.cycle.response_started):
            self.transport.write(_status(code, reason))
        self.transport.close()
