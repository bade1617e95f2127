"""Fetching a part's URL in the router: off by default, for the hosts the operator allows.

A part given by URL normally goes to the provider as a URL (a provider that takes URLs reads
it; the others refuse the part). An operator may let the router fetch URLs of chosen hosts
itself (``PartPolicy(url_hosts=[...])`` or ``COPASS_ROUTER_PART_URL_HOSTS``): such a part is
fetched once, when the run starts, and from then on is bytes like any other part (checked,
kept in the transcript, sent to any provider that takes its media type). Redirects are not
followed, the response must be 200 with the part's media type, and no larger than a part may be.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import attrs

from copass_router._errors import InvalidRequestError, PayloadTooLargeError
from copass_router.content._checks import MAX_PART_BYTES
from copass_router.content._parts import FilePart, ImagePart, Part


def _hosts(values: Iterable[str]) -> frozenset[str]:
    return frozenset(v.strip().lower() for v in values if v.strip())


@attrs.frozen
class PartFetching:
    """Which part URLs the router fetches itself: those whose host (``host`` or
    ``host:port``; ``*.example.com`` for its subdomains) is in ``hosts``. Empty: none."""

    hosts: frozenset[str] = attrs.field(default=frozenset(), converter=_hosts)
    max_bytes: int = MAX_PART_BYTES
    timeout: float = 10.0

    def allows(self, url: str) -> bool:
        """Whether the router fetches ``url`` itself."""
        split = urlsplit(url)
        host = (split.hostname or "").lower()
        if not host or split.scheme not in ("http", "https"):
            return False
        named = f"{host}:{split.port}" if split.port else host
        return named in self.hosts or any(
            h.startswith("*.") and host.endswith(h[1:]) for h in self.hosts
        )

    async def fetched(self, message: str | tuple[Part, ...]) -> str | tuple[Part, ...]:
        """``message`` with each part whose URL this allows replaced by its bytes."""
        if isinstance(message, str) or not self.hosts:
            return message
        wanted = [
            i
            for i, p in enumerate(message)
            if isinstance(p, ImagePart | FilePart) and p.url is not None and self.allows(p.url)
        ]
        if not wanted:
            return message
        import httpx  # only a router that fetches pays for it

        parts = list(message)
        async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as client:
            for index in wanted:
                part = parts[index]
                assert isinstance(part, ImagePart | FilePart) and part.url is not None
                data = await self._get(client, part, index)
                parts[index] = attrs.evolve(part, data=data, url=None)
        return tuple(parts)

    async def _get(self, client: Any, part: ImagePart | FilePart, index: int) -> bytes:
        where = f"message[{index}] ({part.kind}, {part.url})"
        try:
            async with client.stream("GET", part.url) as response:
                if response.status_code != 200:
                    raise InvalidRequestError(
                        f"{where}: fetching it answered {response.status_code}; give a URL "
                        "that serves the file, or send its bytes",
                        field="message",
                    )
                served = response.headers.get("content-type", "").split(";")[0].strip().lower()
                if served != part.media_type:
                    raise InvalidRequestError(
                        f"{where}: the server says it is {served or 'untyped'}, not "
                        f"{part.media_type}; give the media type it has",
                        field="message",
                    )
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise PayloadTooLargeError(
                            f"{where} is over {self.max_bytes} bytes", field="message"
                        )
                return bytes(body)
        except InvalidRequestError:
            raise
        except Exception as exc:
            raise InvalidRequestError(
                f"{where}: fetching it failed ({type(exc).__name__}); check the URL or send "
                "the bytes",
                field="message",
            ) from None
