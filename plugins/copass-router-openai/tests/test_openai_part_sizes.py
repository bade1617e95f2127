"""Size limits of OpenAI's images: one over what the API takes is refused by the router before
any request, as the emulator (like the API) would refuse it; one at the limit goes through."""

from __future__ import annotations

import base64
from typing import Any

import openai
import pytest
from copass_router_openai.emulator import OpenAIEmulator
from copass_router_openai.emulator.agents import AgentsEmulator
from copass_router_openai.parts import MAX_IMAGE_BYTES

from copass_router import ImagePart, Message, PartNotTakenError, Router
from copass_router.testing import SAMPLE_PNG

from .conftest import API_KEY


def _png(size: int) -> bytes:
    return SAMPLE_PNG + b"\0" * (size - len(SAMPLE_PNG))


async def _run(router: Router, provider: str, **fields: Any) -> list[Any]:
    return [e async for e in router.run(provider=provider, **fields)]


async def test_an_image_over_openais_limit_is_refused_before_any_request(
    openai_router: Router, agents_router: Router, emu: OpenAIEmulator, agents_emu: AgentsEmulator
) -> None:
    image = ImagePart("image/png", _png(MAX_IMAGE_BYTES + 1))
    for router, provider in ((openai_router, "openai"), (agents_router, "openai-agents")):
        with pytest.raises(PartNotTakenError) as refused:
            await _run(router, provider, message=["look", image])
        assert f"over the {MAX_IMAGE_BYTES}-byte limit {provider!r} has for an image" in str(
            refused.value
        )
    assert emu.requests.matching(method="POST") == []
    assert agents_emu.requests.matching(method="POST") == []


async def test_the_emulator_refuses_that_image_as_openai_does(emu: OpenAIEmulator) -> None:
    data = base64.b64encode(_png(MAX_IMAGE_BYTES + 1)).decode()
    part = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}}
    client = openai.AsyncOpenAI(api_key=API_KEY, base_url=emu.base_url, max_retries=0)
    async with client:
        with pytest.raises(openai.BadRequestError, match="below 20 MB in size"):
            await client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": [part]}],  # type: ignore[list-item]
            )


async def test_an_image_at_openais_limit_goes_through(
    openai_router: Router, emu: OpenAIEmulator
) -> None:
    image = ImagePart("image/png", _png(MAX_IMAGE_BYTES))
    events = await _run(openai_router, "openai", message=["/parts", image])
    text = "".join(e.text for e in events if isinstance(e, Message))
    assert text == f"parts: image image/png {image.sha256[:12]}"
    assert len(emu.chat_requests()) == 1
