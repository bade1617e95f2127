"""One live connection to one MCP server, through the official ``mcp`` SDK.

The SDK's transports and sessions are async context managers that must be entered and left
by one task, so each connection has a task of its own that holds them open until the
connection closes or breaks. Calls come from any task of the same event loop. The tool list
is cached until the server says it changed (``notifications/tools/list_changed``) or the
connection is rebuilt. A call that finds the server gone gets an error result, and the next
use connects again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from copass_router._errors import ConfigurationError
from copass_router._logs import get_logger
from copass_router.integrations.config import MCPServer

if TYPE_CHECKING:
    from mcp import ClientSession

log = get_logger("copass_router.integrations")

_MISSING_SDK = (
    "MCP servers need the mcp SDK: install the core with its mcp extra from the checkout, "
    "e.g. pip install -e '.[mcp]'"
)


def _import_sdk() -> Any:
    try:
        import mcp
    except ImportError:
        raise ConfigurationError(_MISSING_SDK) from None
    return mcp


def hide(text: str, secrets: Mapping[str, str]) -> str:
    """``text`` with every secret value replaced (an SDK error may quote a header)."""
    for value in secrets.values():
        if value:
            text = text.replace(value, "[redacted]")
    return text


class MCPConnection:
    """The router's connection to ``server``: connect on first use, keep it, list and call."""

    def __init__(self, server: MCPServer, environ: Mapping[str, str]) -> None:
        self.server = server
        self._environ = environ
        self._session: ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._owner: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None
        self._tools: list[Any] | None = None
        #: Bumped whenever the tool list must be read again (changed, or a new connection).
        self.generation = 0

    # -- the connection ----------------------------------------------------------------------

    def _secrets(self) -> dict[str, str]:
        return self.server.secret_values(self._environ)

    def _transport(self, secrets: Mapping[str, str]) -> Any:
        server = self.server
        if server.command is not None:
            from mcp.client.stdio import StdioServerParameters, stdio_client

            env = {**server.env, **{k: secrets[v] for k, v in server.env_from_environ.items()}}
            params = StdioServerParameters(
                command=server.command, args=list(server.args), env=env or None, cwd=server.cwd
            )
            return stdio_client(params)
        import httpx2

        headers = {
            **server.headers,
            **{k: secrets[v] for k, v in server.headers_from_environ.items()},
        }
        client = httpx2.AsyncClient(
            headers=headers, timeout=httpx2.Timeout(30.0, read=max(300.0, server.timeout))
        )
        assert server.url is not None
        return _HttpTransport(server.url, client)

    async def _on_message(self, message: Any) -> None:
        inner = getattr(message, "root", message)
        if getattr(inner, "method", None) == "notifications/tools/list_changed":
            self._tools = None
            self.generation += 1
            log.info("mcp tool list changed", server=self.server.name)

    async def _own(self, ready: asyncio.Future[ClientSession], stop: asyncio.Event) -> None:
        """Hold the transport and session open (this task enters and leaves them)."""
        mcp = _import_sdk()
        secrets: dict[str, str] = {}
        try:
            secrets = self._secrets()
            async with contextlib.AsyncExitStack() as stack:
                read, write = await stack.enter_async_context(self._transport(secrets))
                session = await stack.enter_async_context(
                    mcp.ClientSession(read, write, message_handler=self._on_message)
                )
                await session.initialize()
                ready.set_result(session)
                await stop.wait()
        except BaseException as exc:
            if not ready.done():
                if isinstance(exc, ConfigurationError):
                    ready.set_exception(exc)
                else:
                    message = hide(_describe(exc), secrets)
                    ready.set_exception(
                        ConnectionError(f"cannot connect to MCP server {self.server.name!r}: "
                                        f"{message}")
                    )  # fmt: skip
            if isinstance(exc, asyncio.CancelledError):
                raise

    async def session(self) -> ClientSession:
        """The live session, connecting first if there is none (or it broke)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (asyncio.run again): start afresh
            self._forget()
            self._loop, self._lock = loop, asyncio.Lock()
        if self._session is not None:
            return self._session
        assert self._lock is not None
        async with self._lock:
            if self._session is not None:
                return self._session
            ready: asyncio.Future[ClientSession] = loop.create_future()
            stop = asyncio.Event()
            owner = asyncio.create_task(self._own(ready, stop), name=f"mcp:{self.server.name}")
            try:
                async with asyncio.timeout(self.server.connect_timeout):
                    session = await asyncio.shield(ready)
            except TimeoutError:
                stop.set()
                owner.cancel()
                raise ConnectionError(
                    f"MCP server {self.server.name!r} did not answer within "
                    f"{self.server.connect_timeout:g} s"
                ) from None
            self._session, self._owner, self._stop = session, owner, stop
            self._tools = None
            self.generation += 1
            return session

    def _forget(self) -> None:
        if self._stop is not None:
            with contextlib.suppress(RuntimeError):  # its event loop may be closed already
                self._stop.set()
        self._session, self._owner, self._stop, self._tools = None, None, None, None

    async def reset(self) -> None:
        """Drop the connection (it broke): the next use connects again."""
        owner = self._owner
        self._forget()
        self.generation += 1
        if owner is not None and owner.get_loop() is asyncio.get_running_loop():
            owner.cancel()
            with contextlib.suppress(BaseException):
                await owner

    async def aclose(self) -> None:
        """Close the connection (a stdio server's process ends with it)."""
        owner = self._owner
        self._forget()
        if owner is not None and owner.get_loop() is asyncio.get_running_loop():
            with contextlib.suppress(BaseException):
                async with asyncio.timeout(5):
                    await owner
            if not owner.done():
                owner.cancel()

    # -- tools -------------------------------------------------------------------------------

    async def list_tools(self) -> list[Any]:
        """The server's tools (``mcp.types.Tool``), cached until its list changes."""
        session = await self.session()
        if self._tools is not None:
            return self._tools
        tools: list[Any] = []
        cursor: str | None = None
        async with asyncio.timeout(self.server.connect_timeout):
            for _page in range(100):  # a server that pages forever cannot hang the run
                mcp = _import_sdk()
                params = mcp.types.PaginatedRequestParams(cursor=cursor) if cursor else None
                result = await session.list_tools(params=params)
                tools.extend(result.tools)
                cursor = result.next_cursor if hasattr(result, "next_cursor") else None
                if not cursor:
                    break
        self._tools = tools
        return tools

    async def call_tool(self, name: str, arguments: Mapping[str, Any]) -> Any:
        """Call ``name`` and return the SDK's ``CallToolResult``; a broken connection is
        dropped (so the next call reconnects) and raised as :class:`ConnectionError`."""
        session = await self.session()
        try:
            return await session.call_tool(name, dict(arguments))
        except Exception as exc:
            if _is_protocol_error(exc):
                raise
            await self.reset()
            secrets = self._secrets()
            raise ConnectionError(
                f"MCP server {self.server.name!r} failed during the call: "
                f"{hide(_describe(exc), secrets)}"
            ) from None


def _is_protocol_error(exc: Exception) -> bool:
    """An error the server answered with (the connection is fine), not a broken transport."""
    from mcp.shared.exceptions import MCPError

    code = getattr(getattr(exc, "error", None), "code", None)
    return isinstance(exc, MCPError) and code is not None and code not in (-32000,)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return _describe(exc.exceptions[0])
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _HttpTransport:
    """``streamable_http_client`` with a client of ours (headers), closing both on exit."""

    def __init__(self, url: str, client: Any) -> None:
        self._url, self._client = url, client
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> Any:
        from mcp.client.streamable_http import streamable_http_client

        await self._stack.enter_async_context(self._client)
        return await self._stack.enter_async_context(
            streamable_http_client(self._url, http_client=self._client)
        )

    async def __aexit__(self, *exc: Any) -> None:
        await self._stack.__aexit__(*exc)
