"""Images and documents on OpenAI Chat Completions and OpenAI-compatible runtimes: sent as
the API's content parts, checked by the emulator as OpenAI checks them, refused where not taken."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from copass_router_openai.emulator import OpenAIEmulator

from copass_router import FilePart, ImagePart, Message, PartNotTakenError, Router
from copass_router.testing import SAMPLE_PDF, SAMPLE_PNG

from .conftest import API_KEY

IMAGE = ImagePart("image/png", SAMPLE_PNG)
DOCUMENT = FilePart("application/pdf", SAMPLE_PDF, name="invoice.pdf")


def _text(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, Message))


async def _run(router: Router, provider: str, **fields: Any) -> list[Any]:
    return [e async for e in router.run(provider=provider, **fields)]


async def test_openai_receives_the_image_and_the_pdf(
    openai_router: Router, emu: OpenAIEmulator
) -> None:
    events = await _run(openai_router, "openai", message=["/parts", IMAGE, DOCUMENT])
    assert _text(events) == (
        f"parts: image image/png {IMAGE.sha256[:12]}; file application/pdf {DOCUMENT.sha256[:12]}"
    )
    content = emu.chat_requests()[-1].body["messages"][-1]["content"]
    assert [c["type"] for c in content] == ["text", "image_url", "file"]
    assert content[2]["file"]["filename"] == "invoice.pdf"
    web = ImagePart("image/png", url="https://example.com/parcel.png")
    events = await _run(openai_router, "openai", message=["/parts", web])
    assert _text(events).endswith("image image/png https://example.com/parcel.png")


async def test_a_compatible_runtime_takes_images_but_no_documents(
    compatible_router: Router,
) -> None:
    events = await _run(compatible_router, "openai-compatible", message=["/parts", IMAGE])
    assert _text(events) == f"parts: image image/png {IMAGE.sha256[:12]}"
    with pytest.raises(PartNotTakenError) as refused:
        await _run(compatible_router, "openai-compatible", message=["read", DOCUMENT])
    assert "cannot take message[1], a file of application/pdf" in str(refused.value)
    assert "openai" in refused.value.takers and "openai-compatible" not in refused.value.takers


async def test_an_image_from_an_earlier_turn_on_another_provider_reaches_openai(
    openai_router: Router,
) -> None:
    first = await _run(openai_router, "echo", message=["look", IMAGE])
    later = await _run(openai_router, "openai", message="/parts", session_id=first[-1].session_id)
    assert _text(later) == f"parts: image image/png {IMAGE.sha256[:12]}"


@pytest.mark.parametrize(
    ("part", "words"),
    [
        ({"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}}, "base64"),
        ({"type": "image_url", "image_url": {"url": "data:image/bmp;base64,AAAA"}}, "MIME"),
        (
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0="}},
            "filename",
        ),
        ({"type": "video", "video": {}}, "Invalid value: 'video'"),
    ],
)
async def test_the_emulator_refuses_parts_as_openai_does(
    emu: OpenAIEmulator, part: dict[str, Any], words: str
) -> None:
    client = openai.AsyncOpenAI(api_key=API_KEY, base_url=emu.base_url, max_retries=0)
    async with client:
        with pytest.raises(openai.BadRequestError, match=words):
            await client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": [part]}],  # type: ignore[list-item]
            )


async def test_the_agents_api_takes_images_and_keeps_them_in_its_session(
    agents_router: Router,
) -> None:
    first = await _run(agents_router, "openai-agents", message=["/parts", IMAGE])
    assert _text(first) == f"parts: image image/png {IMAGE.sha256[:12]}"
    later = await _run(
        agents_router, "openai-agents", message="/parts", session_id=first[-1].session_id
    )
    assert _text(later) == f"parts: image image/png {IMAGE.sha256[:12]}"
    with pytest.raises(PartNotTakenError, match="openai-agents' cannot take message\\[1\\]"):
        await _run(agents_router, "openai-agents", message=["read", DOCUMENT])


async def test_a_fresh_agents_session_gets_the_images_of_turns_it_missed(
    agents_router: Router,
) -> None:
    first = await _run(agents_router, "echo", message=["look", IMAGE])
    later = await _run(
        agents_router, "openai-agents", message="/parts", session_id=first[-1].session_id
    )
    assert _text(later) == f"parts: image image/png {IMAGE.sha256[:12]}"


async def test_a_pdf_in_the_history_stops_a_turn_on_the_agents_api_before_any_call(
    agents_router: Router,
) -> None:
    first = await _run(agents_router, "echo", message=["read", DOCUMENT])
    later = await _run(
        agents_router, "openai-agents", message="go on", session_id=first[-1].session_id
    )
    errors = [e for e in later if e.type == "error"]
    assert errors and "the file the user sent in turn 0" in errors[0].message
