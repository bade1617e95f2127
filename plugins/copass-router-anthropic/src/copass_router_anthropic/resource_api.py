"""The anthropic SDK's agent and environment calls, as the core's resource cache needs them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import anthropic

from copass_router import FINGERPRINT_METADATA, ListedResource

from .sdk_errors import provider_error, retry_after


class AnthropicResourceApi:
    """Agents and environments of Claude Managed Agents (a ``ResourceApi``)."""

    def __init__(self, client: Callable[[], anthropic.AsyncAnthropic]) -> None:
        self._client = client

    def _endpoint(self, kind: str) -> Any:
        beta = self._client().beta
        return beta.agents if kind == "agent" else beta.environments

    def retryable(self, error: Exception) -> bool:
        return isinstance(error, (anthropic.RateLimitError, anthropic.InternalServerError))

    def retry_after(self, error: Exception) -> float | None:
        if isinstance(error, anthropic.APIStatusError):
            return retry_after(error.response.headers, limit=float("inf"))
        return None

    def create_error(self, error: Exception, kind: str) -> Exception:
        if isinstance(error, anthropic.APIError):
            return provider_error(error, f"create {kind}")
        return error

    async def is_gone(self, kind: str, resource_id: str) -> bool:
        try:
            found = await self._endpoint(kind).retrieve(resource_id)
        except anthropic.NotFoundError:
            return True
        except anthropic.APIError as exc:
            raise provider_error(exc, "look up a cached resource") from None
        return getattr(found, "archived_at", None) is not None

    async def listing(self, kind: str) -> AsyncIterator[ListedResource]:
        async for item in self._endpoint(kind).list():
            metadata = getattr(item, "metadata", None) or {}
            yield ListedResource(
                id=item.id,
                fingerprint=metadata.get(FINGERPRINT_METADATA),
                archived=getattr(item, "archived_at", None) is not None,
            )

    async def archive(self, kind: str, resource_id: str) -> None:
        await self._endpoint(kind).archive(resource_id)
