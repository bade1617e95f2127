"""Images and documents on Vertex AI Agent Engine (ADK) and Gemini's Interactions API: sent as
Gemini's own parts, checked by the emulators as Gemini checks them, carried across providers."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from copass_router_google.emulator import GoogleEmulator

from copass_router import FilePart, ImagePart, Message, PartNotTakenError, Router
from copass_router.testing import SAMPLE_PDF, SAMPLE_PNG

from .conftest import GEMINI_KEY

IMAGE = ImagePart("image/png", SAMPLE_PNG)
DOCUMENT = FilePart("application/pdf", SAMPLE_PDF, name="invoice.pdf")
EXPECTED = (
    f"parts: image image/png {IMAGE.sha256[:12]}; file application/pdf {DOCUMENT.sha256[:12]}"
)


def _text(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, Message))


async def test_the_adk_agent_receives_the_parts_and_its_session_keeps_them(
    run_google: Any,
) -> None:
    first = await run_google(["/parts", IMAGE, DOCUMENT])
    assert _text(first) == EXPECTED
    later = await run_google("/parts", session_id=first[-1].session_id)
    assert _text(later) == EXPECTED


async def test_a_fresh_adk_session_gets_the_images_of_turns_it_missed(
    google_router: Router, run_google: Any
) -> None:
    first = [e async for e in google_router.run(provider="echo", message=["look", IMAGE])]
    later = await run_google("/parts", session_id=first[-1].session_id)
    assert _text(later) == f"parts: image image/png {IMAGE.sha256[:12]}"


async def test_a_gif_is_refused_by_the_adk_agent_naming_who_takes_it(run_google: Any) -> None:
    gif = ImagePart("image/gif", b"GIF89a" + bytes(20))
    with pytest.raises(PartNotTakenError) as refused:
        await run_google(["see", gif])
    assert "provider 'google' cannot take message[1], an image of image/gif" in str(refused.value)
    assert "echo" in refused.value.takers


async def test_the_adk_emulator_refuses_parts_as_gemini_does(
    fresh_emulator: GoogleEmulator, engine: str
) -> None:
    url = f"{fresh_emulator.base_url}/v1/{engine}:streamQuery?alt=sse"
    bad = [
        ({"inline_data": {"mime_type": "image/bmp", "data": "AAAA"}}, "Unsupported MIME type"),
        ({"inline_data": {"mime_type": "image/png", "data": "@@@"}}, "Base64 decoding failed"),
    ]
    async with httpx.AsyncClient(headers={"Authorization": "Bearer emulator-token"}) as client:
        for part, words in bad:
            body = {
                "classMethod": "async_stream_query",
                "input": {"user_id": "u1", "message": {"role": "user", "parts": [part]}},
            }
            response = await client.post(url, json=body)
            assert response.status_code == 400 and words in response.text


async def test_gemini_agents_receive_the_parts_and_the_chain_keeps_them(
    gemini_router: Router,
) -> None:
    first = [
        e
        async for e in gemini_router.run(
            provider="gemini-agents", message=["/parts", IMAGE, DOCUMENT]
        )
    ]
    assert _text(first) == EXPECTED
    later = [
        e
        async for e in gemini_router.run(
            provider="gemini-agents", message="/parts", session_id=first[-1].session_id
        )
    ]
    assert _text(later) == EXPECTED


async def test_gemini_agents_get_the_images_of_turns_on_another_provider(
    gemini_router: Router,
) -> None:
    first = [e async for e in gemini_router.run(provider="echo", message=["look", DOCUMENT])]
    later = [
        e
        async for e in gemini_router.run(
            provider="gemini-agents", message="/parts", session_id=first[-1].session_id
        )
    ]
    assert _text(later) == f"parts: file application/pdf {DOCUMENT.sha256[:12]}"


async def test_the_interactions_emulator_refuses_parts_as_the_api_does(
    interactions_emu: Any,
) -> None:
    from google import genai
    from google.genai import types

    options = types.HttpOptions(base_url=interactions_emu.base_url, api_version="v1beta")
    client = genai.Client(vertexai=False, api_key=GEMINI_KEY, http_options=options)
    png = base64.b64encode(SAMPLE_PNG).decode()
    for item, words in [
        ({"type": "image", "mime_type": "application/pdf", "data": png}, "not a image type"),
        ({"type": "document", "mime_type": "application/pdf", "data": "@@"}, "Base64"),
    ]:
        with pytest.raises(Exception, match=words):
            await client.aio.interactions.create(  # type: ignore[call-overload]
                model="gemini-2.5-flash", input=[{"type": "user_input", "content": [item]}]
            )
