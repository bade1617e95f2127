"""event_stream_client: the HTTP client provider plugins open event streams with.

Driven with both HTTP libraries the provider SDKs use (httpx and its fork httpx2) against raw
asyncio servers that send what a real server may: a body cut anywhere, sized or chunked, slow,
cut short, over TLS.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import httpx2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from copass_router import event_stream_client
from copass_router.provider_kit._chunked import ChunkedBody

Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


# --- the chunked coding ----------------------------------------------------------------------


@given(
    st.lists(st.binary(min_size=1, max_size=40), max_size=12),
    st.lists(st.integers(min_value=1, max_value=30), min_size=1, max_size=40),
)
def test_a_chunked_body_cut_anywhere_gives_back_its_data(
    parts: list[bytes], cuts: list[int]
) -> None:
    wire = chunked(*parts)
    decoder, out, pos = ChunkedBody(), [], 0
    for size in cuts * (len(wire) // max(1, sum(cuts)) + 1):
        if pos >= len(wire):
            break
        out.append(decoder.feed(wire[pos : pos + size]))
        pos += size
    out.append(decoder.feed(wire[pos:]))
    assert b"".join(out) == b"".join(parts)
    assert decoder.done


def test_chunk_extensions_and_trailers_are_skipped() -> None:
    decoder = ChunkedBody()
    data = decoder.feed(b"5;name=value\r\nhello\r\n0\r\nx-trailer: 1\r\n\r\n")
    assert (data, decoder.done) == (b"hello", True)
    assert decoder.feed(b"more") == b""


@pytest.mark.parametrize(
    "wire", [b"0x5\r\nhello\r\n", b"1_0\r\n", b"zz\r\n", b"\r\n", b"5\r\nhelloXX", b"9" * 5000]
)
def test_a_malformed_chunked_body_is_refused(wire: bytes) -> None:
    with pytest.raises(ValueError, match="malformed chunked body"):
        ChunkedBody().feed(wire)


# --- the client ------------------------------------------------------------------------------


async def serving(handler: Serve, context: ssl.SSLContext | None = None) -> asyncio.Server:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)


def url_of(server: asyncio.Server, scheme: str = "http") -> str:
    port = server.sockets[0].getsockname()[1]
    return f"{scheme}://127.0.0.1:{port}"


async def body_of(
    module: ModuleType, url: str, context: ssl.SSLContext | None = None, **kwargs: Any
) -> tuple[int, bytes, int]:
    """(status, body, number of pieces the body came in)."""
    client = event_stream_client(module, url, ssl_context=context)
    assert client is not None
    async with client, client.stream("GET", url + "/stream", **kwargs) as response:
        pieces = [piece async for piece in response.aiter_raw()]
    return response.status_code, b"".join(pieces), len(pieces)


@pytest.fixture(params=[httpx, httpx2], ids=["httpx", "httpx2"])
def module(request: pytest.FixtureRequest) -> ModuleType:
    return request.param  # type: ignore[no-any-return]


async def test_many_chunks_in_one_read_come_as_one_piece(module: ModuleType) -> None:
    events = [b'event: event_delta\ndata: {"n": %d}\n\n' % n for n in range(300)]

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(HEAD + chunked(*events))
        await writer.drain()

    async with await serving(handler) as server:
        status, body, pieces = await body_of(module, url_of(server))
    assert (status, body) == (200, b"".join(events))
    assert pieces < 10  # an HTTP chunk each would be 300


async def test_a_body_sent_a_byte_at_a_time_arrives_whole(module: ModuleType) -> None:
    wire = HEAD + chunked(b"data: one\n\n", b"data: two\n\n")

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for i in range(len(wire)):
            writer.write(wire[i : i + 1])
            await writer.drain()
            await asyncio.sleep(0)

    async with await serving(handler) as server:
        status, body, _ = await body_of(module, url_of(server))
    assert (status, body) == (200, b"data: one\n\ndata: two\n\n")


async def test_sized_and_unsized_bodies(module: ModuleType) -> None:
    replies = [
        b'HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 13\r\n\r\n{"error": {}}',
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\ndata: until closed\n\n",
    ]
    expected = [(404, b'{"error": {}}'), (200, b"data: until closed\n\n")]
    for reply, want in zip(replies, expected, strict=True):

        async def handler(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter, reply: bytes = reply
        ) -> None:
            writer.write(reply)
            await writer.drain()

        async with await serving(handler) as server:
            status, body, _ = await body_of(module, url_of(server))
        assert (status, body) == want


async def test_a_stream_cut_mid_chunk_is_a_protocol_error(module: ModuleType) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(HEAD + b"20\r\ndata: cut sh")
        await writer.drain()

    async with await serving(handler) as server:
        with pytest.raises(module.RemoteProtocolError, match="incomplete chunked read"):
            await body_of(module, url_of(server))


async def test_timeouts_and_refusals_are_the_librarys_errors(module: ModuleType) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(HEAD)
        await writer.drain()
        await asyncio.sleep(5)

    async with await serving(silent) as server:
        url = url_of(server)
        with pytest.raises(module.ReadTimeout):
            await body_of(module, url, timeout=module.Timeout(5.0, read=0.2))
    with pytest.raises(module.ConnectError):
        await body_of(module, url)  # the server is gone


async def test_the_request_goes_out_as_given(module: ModuleType) -> None:
    seen: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(head + await reader.readexactly(7))
        writer.write(HEAD + chunked(b"ok"))
        await writer.drain()
        writer.close()

    async with await asyncio.start_server(serve, "127.0.0.1", 0) as server:
        client = event_stream_client(module, url_of(server))
        assert client is not None
        async with client:
            response = await client.post(
                url_of(server) + "/v1/stream?a[]=1", content=b"payload", headers={"x-key": "k"}
            )
    assert response.text == "ok"
    head = seen[0].decode()
    assert head.startswith("POST /v1/stream?a[]=1 HTTP/1.1\r\n")
    assert "x-key: k\r\n" in head.lower() and head.endswith("payload")


# --- TLS and proxies -------------------------------------------------------------------------


def certificate(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a new self-signed certificate for 127.0.0.1, and a client
    context that trusts only it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    return server, ssl.create_default_context(cafile=str(cert_file))


async def test_tls_is_verified_with_the_context_given(module: ModuleType, tmp_path: Path) -> None:
    server_context, trusting = certificate(tmp_path)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(HEAD + chunked(b"data: secure\n\n"))
        await writer.drain()

    async with await serving(handler, server_context) as server:
        url = url_of(server, "https")
        status, body, _ = await body_of(module, url, trusting)
        assert (status, body) == (200, b"data: secure\n\n")
        with pytest.raises(module.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await body_of(module, url, ssl.create_default_context())  # not trusted


def test_a_proxied_base_url_keeps_the_sdks_own_client(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    assert event_stream_client(httpx, "https://api.example.com") is not None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert event_stream_client(httpx, "https://api.example.com") is None
    assert event_stream_client(httpx, "http://127.0.0.1:8000") is not None  # no http proxy
    monkeypatch.setenv("NO_PROXY", "api.example.com")
    assert event_stream_client(httpx, "https://api.example.com") is not None


# --- connections made ahead ------------------------------------------------------------------


class Counting:
    """A server that numbers its connections and answers each request with a short stream;
    ``drop`` lists connections it closes on their request without an answer (``drop_all``:
    every one from now on), ``idle`` how long it waits for a request before closing a
    connection (None: forever)."""

    def __init__(self, drop: tuple[int, ...] = (), idle: float | None = None) -> None:
        self.accepted: list[float] = []
        self.served: list[int] = []
        self.drop = drop
        self.drop_all = False
        self.idle = idle

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = len(self.accepted)
        self.accepted.append(asyncio.get_running_loop().time())
        try:
            async with asyncio.timeout(self.idle):
                await reader.readuntil(b"\r\n\r\n")
            if number not in self.drop and not self.drop_all:
                self.served.append(number)
                writer.write(HEAD + chunked(b"data: %d\n\n" % number))
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def streams(client: Any, url: str, count: int, *, pause: float = 0.0) -> list[Any]:
    """The bodies (or the errors) of ``count`` streams in a row, each started after ``pause``."""
    out: list[Any] = []
    for _ in range(count):
        await asyncio.sleep(pause)
        try:
            async with client.stream("GET", url + "/stream") as response:
                out.append(b"".join([piece async for piece in response.aiter_raw()]))
        except Exception as exc:
            out.append(exc)
    return out


async def test_the_next_streams_connection_is_made_ahead(module: ModuleType) -> None:
    server = Counting()
    async with await asyncio.start_server(server, "127.0.0.1", 0) as listening:
        client = event_stream_client(module, url_of(listening))
        assert client is not None
        async with client:
            first = await streams(client, url_of(listening), 1)
            started = asyncio.get_running_loop().time()
            await asyncio.sleep(0.05)
            second = await streams(client, url_of(listening), 1)
    assert first == [b"data: 0\n\n"] and second == [b"data: 1\n\n"]
    assert server.served == [0, 1]
    assert server.accepted[1] < started  # the second stream's connection was ready before it


async def test_a_connection_the_server_dropped_meanwhile_is_not_used(module: ModuleType) -> None:
    server = Counting(idle=0.05)  # the server closes connections idle for 50 ms
    async with await asyncio.start_server(server, "127.0.0.1", 0) as listening:
        client = event_stream_client(module, url_of(listening))
        assert client is not None
        async with client:
            bodies = await streams(client, url_of(listening), 3, pause=0.2)
    assert bodies == [b"data: %d\n\n" % n for n in server.served] and len(server.served) == 3


async def test_a_get_the_server_drops_unanswered_is_sent_again(module: ModuleType) -> None:
    server = Counting(drop=(1,))  # the connection made ahead dies on its request
    async with await asyncio.start_server(server, "127.0.0.1", 0) as listening:
        client = event_stream_client(module, url_of(listening))
        assert client is not None
        async with client:
            bodies = await streams(client, url_of(listening), 2, pause=0.05)
            # Not a request that may not be sent twice: its failure is the caller's.
            server.drop_all = True
            await asyncio.sleep(0.05)
            with pytest.raises(module.RemoteProtocolError, match="without sending a response"):
                await client.post(url_of(listening) + "/stream", content=b"{}")
    assert bodies[0] == b"data: 0\n\n" and bodies[1] == b"data: %d\n\n" % server.served[1]
    assert server.served[1] > 1  # answered on a new connection


async def test_a_second_iteration_goes_on_where_the_first_stopped(module: ModuleType) -> None:
    # An SDK's reader stops at its stream's last event and the SDK drains the rest with a
    # second iteration: with the body's end in the same read, it must end at once, not wait
    # for a socket that sends nothing more.
    done = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(HEAD + b"e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n")
        await writer.drain()
        await done.wait()

    async with await serving(handler) as server:
        client = event_stream_client(module, url_of(server))
        assert client is not None
        async with client, client.stream("GET", url_of(server) + "/stream") as response:
            pieces = response.aiter_raw()
            assert await anext(pieces) == b"data: [DONE]\n\n"
            try:
                async with asyncio.timeout(2):
                    rest = [piece async for piece in response.stream]
            finally:
                done.set()
    assert rest == []


# --- connections kept ------------------------------------------------------------------------


class KeepAlive:
    """A server answering every request on a connection (until the client closes it), each
    with a whole chunked body; ``reply`` makes the answer, ``requests`` has each request's
    connection number."""

    def __init__(self, reply: bytes | None = None, later: bytes = b"") -> None:
        self.connections = 0
        self.requests: list[int] = []
        self.reply = reply or HEAD + chunked(b"data: done\n\n")
        self.later = later  # sent 50 ms after ``reply``

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = self.connections
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = [
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ]
                if length:
                    await reader.readexactly(length[0])
                self.requests.append(number)
                writer.write(self.reply)
                await writer.drain()
                if self.later:
                    await asyncio.sleep(0.05)
                    writer.write(self.later)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def test_a_connection_whose_body_ended_serves_the_next_request(module: ModuleType) -> None:
    server = KeepAlive()
    async with await asyncio.start_server(server, "127.0.0.1", 0) as listening:
        client = event_stream_client(module, url_of(listening))
        assert client is not None
        async with client:
            for _ in range(4):
                response = await client.post(url_of(listening) + "/v1/chat", content=b"{}")
                assert response.text == "data: done\n\n"
    # Every request on the first connection (a second, made ahead, is never needed).
    assert server.requests == [0, 0, 0, 0]


@pytest.mark.parametrize(
    "reply",
    [
        HEAD.replace(b"\r\n\r\n", b"\r\nconnection: close\r\n\r\n") + chunked(b"data: done\n\n"),
        HEAD + b"c\r\ndata: done\n\n\r\n0\r\nx-trailer: 1\r\n\r\n",
    ],
    ids=["connection-close", "trailers"],
)
async def test_a_connection_is_kept_only_when_it_can_serve_again(
    module: ModuleType, reply: bytes
) -> None:
    server = KeepAlive(reply)
    async with await asyncio.start_server(server, "127.0.0.1", 0) as listening:
        client = event_stream_client(module, url_of(listening))
        assert client is not None
        async with client:
            for _ in range(3):
                response = await client.post(url_of(listening) + "/v1/chat", content=b"{}")
                assert response.text == "data: done\n\n"
    assert len(set(server.requests)) == 3  # a connection of its own each


async def test_a_body_left_unread_closes_its_connection(module: ModuleType) -> None:
    first, rest = b"data: 0\n\n", chunked(*[b"data: %d\n\n" % n for n in range(1, 50)])
    server = KeepAlive(HEAD + b"%x\r\n%s\r\n" % (len(first), first), later=rest)
    async with await asyncio.start_server(server, "127.0.0.1", 0) as listening:
        client = event_stream_client(module, url_of(listening))
        assert client is not None
        async with client:
            for _ in range(2):
                async with client.stream("GET", url_of(listening) + "/stream") as response:
                    async for _piece in response.aiter_raw():
                        break  # the reader stops early: the rest is never read
    assert server.requests[0] != server.requests[1]


async def test_the_read_timeout_counts_only_the_wait_for_the_server(module: ModuleType) -> None:
    # A stream that trickles (each gap under the timeout, the whole far over it) and a
    # consumer slower than the timeout between its reads: neither is a timeout.
    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(HEAD)
        for n in range(6):
            writer.write(b"%x\r\n%s\r\n" % (len(b"data: %d\n\n" % n), b"data: %d\n\n" % n))
            await writer.drain()
            await asyncio.sleep(0.1)
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async with await serving(trickle) as server:
        client = event_stream_client(module, url_of(server))
        assert client is not None
        timeout = module.Timeout(5.0, read=0.25)
        async with client, client.stream("GET", url_of(server) + "/s", timeout=timeout) as response:
            pieces = []
            async for piece in response.aiter_raw():
                pieces.append(piece)
                if len(pieces) == 1:
                    await asyncio.sleep(0.4)  # the consumer is slow once
    assert b"".join(pieces) == b"".join(b"data: %d\n\n" % n for n in range(6))
