"""Size limits of Gemini's inline images behind an ADK agent: one over what Vertex AI takes is
refused by the router before any request, as the emulator (like the API) would refuse it; one
at the limit goes through."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from copass_router_google.emulator import GoogleEmulator
from copass_router_google.parts import ADK_MAX_IMAGE_BYTES

from copass_router import ImagePart, Message, PartNotTakenError
from copass_router.testing import SAMPLE_PNG


def _png(size: int) -> bytes:
    return SAMPLE_PNG + b"\0" * (size - len(SAMPLE_PNG))


async def test_an_image_over_the_inline_limit_is_refused_before_any_request(
    run_google: Any, fresh_emulator: GoogleEmulator, engine: str
) -> None:
    image = ImagePart("image/png", _png(ADK_MAX_IMAGE_BYTES + 1))
    with pytest.raises(PartNotTakenError) as refused:
        await run_google(["look", image])
    message = str(refused.value)
    assert f"over the {ADK_MAX_IMAGE_BYTES}-byte limit 'google' has for an image" in message
    assert "echo" in (refused.value.takers or ())
    assert fresh_emulator.requests.matching(method="POST") == []
    assert fresh_emulator.model_calls(engine) == []


async def test_the_emulator_refuses_that_image_as_gemini_does(
    fresh_emulator: GoogleEmulator, engine: str
) -> None:
    url = f"{fresh_emulator.base_url}/v1/{engine}:streamQuery?alt=sse"
    data = base64.b64encode(_png(ADK_MAX_IMAGE_BYTES + 1)).decode()
    part = {"inline_data": {"mime_type": "image/png", "data": data}}
    body = {
        "classMethod": "async_stream_query",
        "input": {"user_id": "u1", "message": {"role": "user", "parts": [part]}},
    }
    async with httpx.AsyncClient(headers={"Authorization": "Bearer emulator-token"}) as client:
        response = await client.post(url, json=body)
    assert response.status_code == 400 and "INVALID_ARGUMENT" in response.text
    assert "inline images may be at most" in response.text


async def test_an_image_at_the_inline_limit_goes_through(run_google: Any) -> None:
    image = ImagePart("image/png", _png(ADK_MAX_IMAGE_BYTES))
    events = await run_google(["/parts", image])
    text = "".join(e.text for e in events if isinstance(e, Message))
    assert text == f"parts: image image/png {image.sha256[:12]}"
