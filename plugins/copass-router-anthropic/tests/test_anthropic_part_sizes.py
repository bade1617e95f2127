"""Size limits of Claude's images: an image over what the API takes is refused by the router
before any request, as the emulator (like the API) would refuse it; one at the limit goes
through."""

from __future__ import annotations

import base64
from typing import Any

import anthropic
import httpx
import pytest
from copass_router_anthropic.emulator import EmulatorServer
from copass_router_anthropic.emulator._routes import MAX_REQUEST_BYTES as MAX_BODY
from copass_router_anthropic.parts import MAX_IMAGE_BYTES, MAX_REQUEST_BYTES

from copass_router import (
    FilePart,
    ImagePart,
    Message,
    PartNotTakenError,
    PartsTooLargeError,
    Router,
)
from copass_router.testing import SAMPLE_PDF, SAMPLE_PNG

from .conftest import API_KEY


def _png(size: int) -> bytes:
    return SAMPLE_PNG + b"\0" * (size - len(SAMPLE_PNG))


async def _run(router: Router, **fields: Any) -> list[Any]:
    return [e async for e in router.run(provider="anthropic", **fields)]


async def test_an_image_over_claudes_limit_is_refused_before_any_request(
    anthropic_router: Router, emulator: EmulatorServer
) -> None:
    image = ImagePart("image/png", _png(MAX_IMAGE_BYTES + 1))
    with pytest.raises(PartNotTakenError) as refused:
        await _run(anthropic_router, message=["look", image])
    assert f"it is {MAX_IMAGE_BYTES + 1} bytes, over the {MAX_IMAGE_BYTES}-byte limit" in str(
        refused.value
    )
    assert emulator.requests.matching("/v1/*", method="POST") == []


async def test_the_emulator_refuses_that_image_as_the_api_does(emulator: EmulatorServer) -> None:
    client = anthropic.AsyncAnthropic(api_key=API_KEY, base_url=emulator.base_url, max_retries=0)
    agent = await client.beta.agents.create(model="claude-sonnet-4-6", name="a")
    environment = await client.beta.environments.create(name="e")
    session = await client.beta.sessions.create(agent=agent.id, environment_id=environment.id)
    data = base64.b64encode(_png(MAX_IMAGE_BYTES + 1)).decode()
    block = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}
    with pytest.raises(
        anthropic.BadRequestError, match="image exceeds 5 MB maximum: 5242884 bytes"
    ):
        await client.beta.sessions.events.send(
            session.id,
            events=[{"type": "user.message", "content": [block]}],  # type: ignore[list-item]
        )
    await client.close()


async def test_an_image_at_claudes_limit_goes_through(anthropic_router: Router) -> None:
    image = ImagePart("image/png", _png(MAX_IMAGE_BYTES))
    events = await _run(anthropic_router, message=["/parts", image])
    text = "".join(e.text for e in events if isinstance(e, Message))
    assert text == f"parts: image image/png {image.sha256[:12]}"


async def test_documents_over_one_requests_limit_are_refused_before_any_request(
    anthropic_router: Router, emulator: EmulatorServer
) -> None:
    half = MAX_REQUEST_BYTES // 2 + 1
    pdf = SAMPLE_PDF + b"\0" * (half - len(SAMPLE_PDF))
    documents = [FilePart("application/pdf", pdf), FilePart("application/pdf", pdf + b"\0")]
    with pytest.raises(PartsTooLargeError) as refused:
        await _run(anthropic_router, message=["read both", *documents])
    assert f"takes at most {MAX_REQUEST_BYTES} bytes of them in one request" in str(refused.value)
    assert emulator.requests.matching("/v1/*", method="POST") == []


async def test_the_emulator_refuses_a_request_over_32_mb_as_the_api_does(
    emulator: EmulatorServer,
) -> None:
    async with httpx.AsyncClient(headers={"x-api-key": API_KEY}) as client:
        response = await client.post(
            f"{emulator.base_url}/v1/agents", content=b"\0" * (MAX_BODY + 1)
        )
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "request_too_large"
