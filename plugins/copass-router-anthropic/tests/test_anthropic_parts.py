"""Images and documents on Claude Managed Agents: sent as image and document blocks, checked by
the emulator as the API checks them, kept by the native session, re-sent to a fresh one."""

from __future__ import annotations

import base64
from typing import Any

import anthropic
import pytest
from copass_router_anthropic.emulator import EmulatorServer

from copass_router import FilePart, ImagePart, Message, PartNotTakenError, Router
from copass_router.testing import SAMPLE_PDF, SAMPLE_PNG

from .conftest import API_KEY

IMAGE = ImagePart("image/png", SAMPLE_PNG)
DOCUMENT = FilePart("application/pdf", SAMPLE_PDF, name="invoice.pdf")
EXPECTED = (
    f"parts: image image/png {IMAGE.sha256[:12]}; file application/pdf {DOCUMENT.sha256[:12]}"
)


def _text(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, Message))


async def _run(router: Router, provider: str, **fields: Any) -> list[Any]:
    return [e async for e in router.run(provider=provider, **fields)]


async def test_claude_receives_the_image_and_the_pdf_and_keeps_them(
    anthropic_router: Router,
) -> None:
    first = await _run(anthropic_router, "anthropic", message=["/parts", IMAGE, DOCUMENT])
    assert _text(first) == EXPECTED
    # The native session holds them: the next turn sends text only and the model still has them.
    later = await _run(
        anthropic_router, "anthropic", message="/parts", session_id=first[-1].session_id
    )
    assert _text(later) == EXPECTED


async def test_a_fresh_session_gets_the_images_of_turns_it_missed(
    anthropic_router: Router,
) -> None:
    first = await _run(anthropic_router, "echo", message=["look", IMAGE, DOCUMENT])
    later = await _run(
        anthropic_router, "anthropic", message="/parts", session_id=first[-1].session_id
    )
    assert _text(later) == EXPECTED


async def test_a_part_claude_cannot_take_is_refused_before_the_run(
    anthropic_router: Router, emulator: EmulatorServer
) -> None:
    sheet = FilePart("text/plain", b"just text")
    with pytest.raises(PartNotTakenError, match="cannot take message\\[1\\], a file of text/plain"):
        await _run(anthropic_router, "anthropic", message=["read", sheet])


@pytest.mark.parametrize(
    ("block", "words"),
    [
        (
            {
                "type": "image",
                "source": {"type": "base64", "media_type": "image/png", "data": "@@"},
            },
            "invalid base64",
        ),
        (
            {
                "type": "image",
                "source": {
                    "type": "base64",
                    "media_type": "image/jpeg",
                    "data": base64.b64encode(SAMPLE_PNG).decode(),
                },
            },
            "does not match the provided media type",
        ),
        (
            {"type": "image", "source": {"type": "base64", "media_type": "image/bmp", "data": ""}},
            "media_type",
        ),
        (
            {
                "type": "document",
                "source": {"type": "base64", "media_type": "application/pdf", "data": "aGk="},
            },
            "PDF specified was not valid",
        ),
        ({"type": "video"}, "does not match any of the expected tags"),
    ],
)
async def test_the_emulator_refuses_blocks_as_the_api_does(
    emulator: EmulatorServer, block: dict[str, Any], words: str
) -> None:
    client = anthropic.AsyncAnthropic(api_key=API_KEY, base_url=emulator.base_url, max_retries=0)
    agent = await client.beta.agents.create(model="claude-sonnet-4-6", name="a")
    environment = await client.beta.environments.create(name="e")
    session = await client.beta.sessions.create(agent=agent.id, environment_id=environment.id)
    with pytest.raises(anthropic.BadRequestError, match=words):
        await client.beta.sessions.events.send(
            session.id,
            events=[{"type": "user.message", "content": [block]}],  # type: ignore[list-item]
        )
    await client.close()
