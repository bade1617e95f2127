"""The interactions resource that opens this provider's event streams.

The SDK's own HTTP client reads a stream one HTTP chunk at a time through several layers; the
core's :func:`~copass_router.event_stream_client` reads it a socket read at a time, each stream
on a connection of its own. The copy made here is the SDK's interactions resource with only its
HTTP client swapped: the SDK still builds, authenticates, retries and maps every request. Where
the environment routes the API's URL through a proxy there is no copy, and the SDK's own client
streams, through the proxy, as before.
"""

from __future__ import annotations

import copy
import sys
from types import ModuleType
from typing import Any

from copass_router import event_stream_client, shared_tls_context

__all__ = ["close_streaming_copy", "streaming_copy"]


def streaming_copy(interactions: Any) -> Any | None:
    """``client.aio.interactions`` with the same configuration, its requests sent through an
    event-stream client: for interactions created with ``stream=True`` only (None: stream with
    ``interactions`` itself)."""
    config = interactions.sdk_configuration
    pooled = config.async_client
    httpx = _httpx_of(pooled) if pooled is not None else None
    if httpx is None:  # the SDK signs requests with google-auth: it sends them itself
        return None
    base_url, _ = config.get_server_details()
    streams = event_stream_client(httpx, base_url, ssl_context=shared_tls_context())
    if streams is None:
        return None
    # The SDK builds each request with its client: the same defaults, then, for these.
    streams.headers = pooled.headers
    streams.timeout = pooled.timeout
    streams.follow_redirects = pooled.follow_redirects
    # A shallow copy keeps what the SDK keeps beside the fields (its hooks, its security).
    settings = copy.copy(config)
    settings.async_client = streams
    resource = copy.copy(interactions)
    resource.sdk_configuration = settings
    return resource


async def close_streaming_copy(resource: Any) -> None:
    """Close the event-stream client of a resource :func:`streaming_copy` made."""
    await resource.sdk_configuration.async_client.aclose()


def _httpx_of(client: Any) -> ModuleType | None:
    """The HTTP library ``client`` is an ``AsyncClient`` of: httpx, or its fork httpx2."""
    for klass in type(client).__mro__:
        module = sys.modules.get(klass.__module__.partition(".")[0])
        if module is not None and getattr(module, "AsyncClient", None) is klass:
            return module
    return None
