"""An HTTP transport for event streams: one request at a time per connection, its response's
body read a socket read at a time.

A provider SDK built on httpx reads a chunked response one HTTP chunk at a time, through h11
and some eight async-generator layers: about 10 µs of CPU per chunk. A provider streams an
event per chunk and, with token streaming, an event per token, so on a fast provider this was
the largest single cost of a turn. Here h11 still writes the request and parses the response's
head; the body is taken off each socket read whole and its chunked framing removed in one
pass, so the layers above run once per read, whatever the number of chunks in it.

A plugin gives it to its SDK (:func:`event_stream_client`) for its streams, or for all its
requests. A stream the client stops reading closes its connection; a response read to its end
(a chat completion's stream, a session's creation) leaves it for the next request; while no
connection is idle the next one is made ahead (``_stream_connections``), so its handshakes are
not waited for, and a GET sent on one the server dropped meanwhile, unanswered, is sent again.
The SDK still builds the request (URL, headers, auth, retries) and maps the errors: this
transport raises the HTTP library's own exceptions (``ConnectError``, ``ReadTimeout``,
``RemoteProtocolError``...).
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Callable, Mapping
from functools import partial
from types import ModuleType
from typing import Any

from copass_router.provider_kit._chunked import ChunkedBody
from copass_router.provider_kit._stream_connections import (
    Connection,
    Origin,
    StreamConnections,
    within,
)

__all__ = ["event_stream_client"]

#: Bytes asked of the socket per read.
READ_SIZE = 64 * 1024
#: The most a response's head may take.
MAX_HEAD = 64 * 1024
#: What a connection closed before any answer raises (the words httpx uses).
NO_RESPONSE = "Server disconnected without sending a response."

_classes: dict[ModuleType, tuple[type, type]] = {}


def event_stream_client(
    httpx: ModuleType, base_url: str, *, ssl_context: ssl.SSLContext | None = None
) -> Any | None:
    """An ``httpx.AsyncClient`` (of ``httpx``, the module the SDK uses: httpx or a fork with
    its API) whose requests are sent and read as described above: give it to the SDK for all
    its requests or for its streams only (e.g. ``client.copy(http_client=...)``).

    None where the environment routes ``base_url`` through a proxy: the SDK's own client then
    sends them, through the proxy, as before.
    """
    url = urllib.parse.urlsplit(base_url)
    scheme = url.scheme or "https"
    proxies = urllib.request.getproxies()
    if (scheme in proxies or "all" in proxies) and not urllib.request.proxy_bypass(
        url.hostname or ""
    ):
        return None
    transport_class, _ = _types(httpx)
    return httpx.AsyncClient(transport=transport_class(httpx, ssl_context), trust_env=False)


def _types(httpx: ModuleType) -> tuple[type, type]:
    """The transport and body-stream classes for ``httpx``'s base classes (made once)."""
    found = _classes.get(httpx)
    if found is None:
        body = type("EventStreamBody", (_Body, httpx.AsyncByteStream), {})
        transport = type(
            "EventStreamTransport", (_Transport, httpx.AsyncBaseTransport), {"_body": body}
        )
        found = _classes[httpx] = (transport, body)
    return found


class _Transport:
    _body: type

    def __init__(self, httpx: ModuleType, ssl_context: ssl.SSLContext | None) -> None:
        self._httpx = httpx
        self._connections = StreamConnections(ssl_context)

    async def handle_async_request(self, request: Any) -> Any:
        httpx, url = self._httpx, request.url
        timeouts = request.extensions.get("timeout", {})
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"no event stream over {url.scheme!r}", request=request)
        origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        body = b"".join([part async for part in request.stream])
        taken, made_ahead = await self._connect(request, origin, timeouts.get("connect"))
        try:
            return await self._exchange(request, origin, body, taken, timeouts)
        except (httpx.RemoteProtocolError, httpx.WriteError) as exc:
            # A connection made ahead that the server dropped unseen: a request it never
            # answered is sent again on a new one, if sending it twice is harmless.
            unanswered = isinstance(exc, httpx.WriteError) or str(exc) == NO_RESPONSE
            if not (made_ahead and request.method in ("GET", "HEAD") and unanswered):
                raise
        fresh, _ = await self._connect(request, origin, timeouts.get("connect"), ahead=False)
        return await self._exchange(request, origin, body, fresh, timeouts)

    async def _connect(
        self, request: Any, origin: Origin, seconds: float | None, *, ahead: bool = True
    ) -> tuple[Connection, bool]:
        httpx = self._httpx
        try:
            if ahead:
                return await self._connections.take(origin, seconds)
            return await self._connections.connect(origin, seconds), False
        except TimeoutError:
            raise httpx.ConnectTimeout("timed out connecting", request=request) from None
        except OSError as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from None

    async def _exchange(
        self,
        request: Any,
        origin: Origin,
        body: bytes,
        connection: Connection,
        timeouts: Mapping[str, Any],
    ) -> Any:
        import h11

        httpx, url = self._httpx, request.url
        reader, writer = connection
        try:
            conn = h11.Connection(h11.CLIENT)
            out = conn.send(
                h11.Request(method=request.method, target=url.raw_path, headers=request.headers.raw)
            )
            if body:
                out += conn.send(h11.Data(data=body))
            out += conn.send(h11.EndOfMessage())
            try:
                writer.write(out)
                await within(writer.drain(), timeouts.get("write"))
            except TimeoutError:
                raise httpx.WriteTimeout("timed out sending the request", request=request) from None
            except OSError as exc:
                raise httpx.WriteError(str(exc) or type(exc).__name__, request=request) from None
            response = await self._head(request, conn, reader, timeouts.get("read"))
        except BaseException:
            writer.close()
            raise
        leftover, _ = conn.trailing_data
        framing = _framing(request.method, response.status_code, response.headers)
        keep = response.http_version == b"1.1" and not _closing(response.headers)
        stream = self._body(
            httpx,
            request,
            connection,
            bytes(leftover),
            framing,
            timeouts.get("read"),
            partial(self._connections.give_back, origin) if keep else None,
        )
        return httpx.Response(
            response.status_code,
            headers=response.headers.raw_items(),
            stream=stream,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": response.reason},
        )

    async def aclose(self) -> None:
        self._connections.close()

    async def _head(
        self, request: Any, conn: Any, reader: asyncio.StreamReader, seconds: float | None
    ) -> Any:
        import h11

        httpx = self._httpx
        received = 0
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc), request=request) from None
            if event is h11.NEED_DATA:
                try:
                    data = await _read(httpx, request, reader, seconds)
                except httpx.ReadError:
                    if received:
                        raise
                    data = b""  # reset before any answer: as closed before any answer
                received += len(data)
                if received > MAX_HEAD:
                    raise httpx.RemoteProtocolError("response head too large", request=request)
                if not data:
                    raise httpx.RemoteProtocolError(NO_RESPONSE, request=request)
                conn.receive_data(data)
            elif isinstance(event, h11.Response):
                return event
            # an informational response (100 Continue): its final response follows


class _Body:
    """The response body: one ``bytes`` per socket read, chunked framing removed. Read to its
    end (and not closed by the server), its connection goes to ``give_back``; else it closes."""

    def __init__(
        self,
        httpx: ModuleType,
        request: Any,
        connection: Connection,
        leftover: bytes,
        framing: int | None,
        timeout: float | None,
        give_back: Callable[[Connection], None] | None,
    ) -> None:
        self._httpx = httpx
        self._request = request
        self._reader, self._writer = connection
        self._leftover = leftover
        self._framing = framing  # -1: chunked, n >= 0: content length, None: until closed
        self._timeout = timeout
        self._give_back = give_back
        self._reading: AsyncIterator[bytes] | None = None
        self._finished = False
        # The read timeout, as one timer for the body rather than one per read (a stream
        # that trickles a token at a time reads hundreds of times): see _watch.
        self._waiting_since: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timed_out = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        # One read of the body: a second iteration (an SDK draining what its reader left)
        # goes on where the first stopped, and ends at once if the body has ended.
        if self._reading is None:
            self._reading = self._chunked() if self._framing == -1 else self._sized(self._framing)
        body = self._reading
        try:
            async for data in body:
                yield data
        finally:
            if getattr(body, "ag_frame", None) is None:  # failed or ended: nothing reads on
                self._finish(reusable=False)  # (a no-op once given back)

    def _finish(self, *, reusable: bool) -> None:
        if self._finished:
            return
        self._finished = True
        if self._timer is not None:
            self._timer.cancel()
        if reusable and self._give_back is not None:
            self._give_back((self._reader, self._writer))
        else:
            self._writer.close()

    async def _chunked(self) -> AsyncIterator[bytes]:
        httpx, request = self._httpx, self._request
        decoder = ChunkedBody()
        data, self._leftover = self._leftover, b""
        while True:
            if data:
                try:
                    out = decoder.feed(data)
                except ValueError as exc:
                    raise httpx.RemoteProtocolError(str(exc), request=request) from None
                if decoder.done:  # nothing more to read: the connection may serve again
                    self._finish(reusable=decoder.clean)
                if out:
                    yield out
                if decoder.done:
                    return
            data = await self._read()
            if not data:
                raise httpx.RemoteProtocolError(
                    "peer closed connection without sending complete message body: "
                    "incomplete chunked read",
                    request=request,
                )

    async def _sized(self, length: int | None) -> AsyncIterator[bytes]:
        httpx, request = self._httpx, self._request
        data, self._leftover = self._leftover, b""
        left = length
        while True:
            if data:
                if left is not None:
                    extra = len(data) > left
                    data = data[:left]
                    left -= len(data)
                    if left == 0:  # the server sent no more than it said: reusable
                        self._finish(reusable=not extra)
                yield data
            if left == 0:
                return
            data = await self._read()
            if not data:
                if left is None:
                    self._finish(reusable=False)  # the body ends with the connection
                    return
                raise httpx.RemoteProtocolError(
                    f"peer closed connection without sending complete message body: "
                    f"received {length - left} bytes, expected {length}",  # type: ignore[operator]
                    request=request,
                )

    async def _read(self) -> bytes:
        """The next bytes of the body (b"" at its end); ``ReadTimeout`` once a read has
        waited the read timeout for them."""
        if self._timeout is not None:
            since = self._waiting_since = asyncio.get_running_loop().time()
            if self._timer is None:
                self._timer = asyncio.get_running_loop().call_at(since + self._timeout, self._watch)
        try:
            data = await self._reader.read(READ_SIZE)
        except OSError as exc:
            raise self._httpx.ReadError(
                str(exc) or type(exc).__name__, request=self._request
            ) from None
        finally:
            self._waiting_since = None
        if self._timed_out:
            raise self._httpx.ReadTimeout("timed out reading the response", request=self._request)
        return data

    def _watch(self) -> None:
        # Due when the read that armed it would time out: a read waiting since later moves it
        # on; one waiting all along ends the connection, and it raises ReadTimeout.
        self._timer = None
        since, timeout = self._waiting_since, self._timeout
        if self._finished or since is None or timeout is None:
            return  # no read waiting: the next one arms it again
        loop = asyncio.get_running_loop()
        if loop.time() < since + timeout:
            self._timer = loop.call_at(since + timeout, self._watch)
            return
        self._timed_out = True
        self._writer.transport.abort()

    async def aclose(self) -> None:
        self._finish(reusable=False)


def _framing(method: str, status: int, headers: Any) -> int | None:
    """-1 for a chunked body, its length for a sized one (0: none), None: read until closed."""
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return 0
    encodings = b",".join(v for k, v in headers.raw_items() if k.lower() == b"transfer-encoding")
    if encodings:
        return -1 if encodings.lower().rstrip().endswith(b"chunked") else None
    lengths = [v for k, v in headers.raw_items() if k.lower() == b"content-length"]
    return int(lengths[0]) if lengths else None


def _closing(headers: Any) -> bool:
    """Whether the server says it closes the connection after this response."""
    return any(k.lower() == b"connection" and b"close" in v.lower() for k, v in headers.raw_items())


async def _read(
    httpx: ModuleType, request: Any, reader: asyncio.StreamReader, seconds: float | None
) -> bytes:
    try:
        return await within(reader.read(READ_SIZE), seconds)
    except TimeoutError:
        raise httpx.ReadTimeout("timed out reading the response", request=request) from None
    except OSError as exc:
        raise httpx.ReadError(str(exc) or type(exc).__name__, request=request) from None
