"""The HTTP client this plugin's requests go through.

The SDK's own client reads a stream one HTTP chunk at a time through several layers; the
core's :func:`~copass_router.event_stream_client` reads it a socket read at a time, and keeps a
connection for the next request once a response is read to its end. The SDK still builds,
authenticates, retries and maps every request: only its HTTP client differs. Where the
environment routes the base URL through a proxy there is no such client, and the SDK's own
client sends them, through the proxy, as before.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import openai

from copass_router import event_stream_client, shared_tls_context

__all__ = ["sdk_httpx", "stream_http_client", "streaming_copy"]


def stream_http_client(base_url: str) -> Any | None:
    """The HTTP client for the SDK's requests to ``base_url`` (None: use the SDK's own)."""
    return event_stream_client(sdk_httpx(), base_url, ssl_context=shared_tls_context())


def streaming_copy(client: openai.AsyncOpenAI) -> openai.AsyncOpenAI | None:
    """``client`` with its settings, its requests sent through :func:`stream_http_client`
    (None: send them with ``client`` itself)."""
    http_client = stream_http_client(str(client.base_url))
    return client.copy(http_client=http_client) if http_client is not None else None


def sdk_httpx() -> ModuleType:
    """The HTTP library the SDK is built on: httpx, or its fork httpx2 in later releases."""
    for klass in openai.DefaultAsyncHttpxClient.__mro__[1:]:
        module = sys.modules.get(klass.__module__.partition(".")[0])
        if module is not None and getattr(module, "AsyncClient", None) is klass:
            return module
    raise RuntimeError("the openai SDK's HTTP client is not an httpx AsyncClient")
