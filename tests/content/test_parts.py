"""Messages of parts: built from values or JSON, checked with errors naming the part, kept in
the transcript, and refused where the provider cannot take them."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from copass_router import (
    AgentBackend,
    FilePart,
    ImagePart,
    InvalidRequestError,
    Message,
    PartNotTakenError,
    PayloadTooLargeError,
    Router,
    RunFinished,
    RunRequest,
    StopReason,
    TextPart,
    TranscriptTurn,
)
from copass_router.testing import SAMPLE_PDF, SAMPLE_PNG, ScriptedBackend, ScriptedPlugin

PNG_B64 = base64.b64encode(SAMPLE_PNG).decode()


def _text(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, Message))


async def _events(router: Router, **fields: Any) -> list[Any]:
    return [e async for e in router.run(**fields)]


def test_a_message_of_dicts_becomes_parts_with_their_sha256() -> None:
    request = RunRequest(
        provider="echo",
        message=[
            "What is wrong here?",
            {"type": "image", "media_type": "image/png", "data": PNG_B64},
            {"type": "file", "media_type": "application/pdf", "url": "https://example.com/a.pdf"},
        ],
    )
    text, image, document = request.message
    assert text == TextPart("What is wrong here?")
    assert isinstance(image, ImagePart) and image.data == SAMPLE_PNG
    assert image.size == len(SAMPLE_PNG) and len(image.sha256) == 64
    assert isinstance(document, FilePart) and document.url == "https://example.com/a.pdf"
    assert ImagePart("image/png", PNG_B64) == ImagePart("image/png", SAMPLE_PNG)
    assert "bytes>" in repr(image) and PNG_B64 not in repr(image)


@pytest.mark.parametrize(
    ("message", "words"),
    [
        ([{"type": "video", "media_type": "video/mp4", "data": PNG_B64}], "unknown type 'video'"),
        ([{"type": "image", "data": PNG_B64}], "needs a media_type"),
        ([ImagePart("", SAMPLE_PNG)], "needs a media_type"),
        ([ImagePart("PNG", SAMPLE_PNG)], "type/subtype"),
        ([ImagePart("application/pdf", SAMPLE_PDF)], "not an image type"),
        ([ImagePart("image/jpeg", SAMPLE_PNG)], "bytes are not image/jpeg"),
        ([{"type": "image", "media_type": "image/png", "data": "not base64!"}], "base64"),
        ([ImagePart("image/png")], "neither data nor a url"),
        ([ImagePart("image/png", SAMPLE_PNG, url="https://x.test/a.png")], "both data and a url"),
        ([ImagePart("image/png", url="file:///etc/passwd")], "http(s) URL"),
        ([{"type": "image", "media_type": "image/png", "bytes": PNG_B64}], "unknown key 'bytes'"),
        ([], "no parts"),
        ([TextPart("  ")], "only empty text"),
        ([42], "a part is a TextPart"),
        ([TextPart("a\x00b")], "NUL"),
        ([FilePart("application/pdf", SAMPLE_PDF, name="a\nb.pdf")], "printable"),
    ],
)
async def test_bad_parts_are_refused_naming_the_part(
    router: Router, message: list[Any], words: str
) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        await _events(router, provider="echo", message=message)
    assert words in str(refused.value)
    assert refused.value.field == "message"
    assert await router.list_sessions() == [], "nothing half-done"


async def test_a_part_over_the_size_limit_is_too_large(router: Router) -> None:
    from copass_router.content._checks import MAX_PART_BYTES

    big = ImagePart("image/png", SAMPLE_PNG + bytes(MAX_PART_BYTES))
    with pytest.raises(PayloadTooLargeError, match=r"message\[1\] \(image\) is \d+ bytes"):
        await _events(router, provider="echo", message=["look", big])


async def test_the_model_receives_the_parts_and_a_later_turn_still_has_them(
    router: Router,
) -> None:
    image, document = ImagePart("image/png", SAMPLE_PNG), FilePart("application/pdf", SAMPLE_PDF)
    first = await _events(router, provider="echo", message=[TextPart("/parts"), image, document])
    expected = (
        f"parts: image image/png {image.sha256[:12]}; file application/pdf {document.sha256[:12]}"
    )
    assert _text(first) == expected
    session = first[-1].session_id
    # The next turn sends text only: the model still sees the earlier image and document.
    later = await _events(router, provider="echo", message="/parts", session_id=session)
    assert _text(later) == expected
    turns = await router.transcript(session, "local")
    assert turns[0].user == "/parts"
    assert [p.kind for p in turns[0].parts] == ["text", "image", "file"]
    assert turns[0].parts[1].sha256 == image.sha256


async def test_a_provider_without_images_refuses_naming_those_that_take_them(
    make_router: Any,
) -> None:
    backend = ScriptedBackend()
    router = make_router(plugins=[ScriptedPlugin(scripted=backend)])
    image = ImagePart("image/png", SAMPLE_PNG)
    with pytest.raises(PartNotTakenError) as refused:
        await _events(router, provider="scripted", message=["see", image])
    message = str(refused.value)
    assert "provider 'scripted' cannot take message[1], an image of image/png" in message
    assert "providers that take it: echo" in message
    assert refused.value.takers == ("echo",)
    assert await router.list_sessions() == []


async def test_a_history_image_the_next_provider_cannot_take_fails_the_turn_cleanly(
    make_router: Any,
) -> None:
    backend = ScriptedBackend()
    backend.enqueue(Message(text="never sent"))
    router = make_router(plugins=[ScriptedPlugin(scripted=backend)])
    first = await _events(
        router, provider="echo", message=["hi", ImagePart("image/png", SAMPLE_PNG)]
    )
    session = first[-1].session_id
    events = await _events(router, provider="scripted", message="and now?", session_id=session)
    errors = [e for e in events if e.type == "error"]
    assert errors and errors[0].code == "invalid_request"
    assert "the image the user sent in turn 0" in errors[0].message
    assert isinstance(events[-1], RunFinished) and events[-1].stop_reason is StopReason.ERROR
    turns = await router.transcript(session, "local")
    assert len(turns) == 2 and turns[0].parts[1].sha256 == ImagePart("image/png", SAMPLE_PNG).sha256
    assert backend.turns == [], "the provider was never called"


def test_a_backend_declares_no_parts_by_default() -> None:
    assert AgentBackend.part_support == {}
    assert TranscriptTurn(0, "r", "p", "m", "u").parts == ()


async def test_a_history_image_whose_bytes_are_gone_fails_the_turn_clearly(
    router: Router,
) -> None:
    first = await _events(
        router, provider="echo", message=["hi", ImagePart("image/png", SAMPLE_PNG)]
    )
    store: Any = router.store
    await store._run(lambda c: c.execute("DELETE FROM blobs"))  # lost behind the router's back
    events = await _events(
        router, provider="echo", message="/parts", session_id=first[-1].session_id
    )
    [error] = [e for e in events if e.type == "error"]
    assert "is no longer kept by the store" in error.message
    assert events[-1].stop_reason is StopReason.ERROR


def test_the_console_shows_a_turns_images_and_files() -> None:
    from copass_router.server.console.transcript_view import turn_views

    image = ImagePart("image/png", SAMPLE_PNG)
    web = FilePart("application/pdf", url="https://example.com/a.pdf")
    turn = TranscriptTurn(0, "r", "echo", "echo-1", "look", parts=(TextPart("look"), image, web))
    [view] = turn_views([turn])
    assert view.bubbles[0].text == (
        f"look\n[image: image/png, {len(SAMPLE_PNG)} bytes]\n"
        "[file: application/pdf, https://example.com/a.pdf]"
    )
