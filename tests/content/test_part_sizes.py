"""Size limits of images and files: a part over what the provider takes, or parts over what it
takes in one request, are refused before any request, naming the size, the limit, the provider
and where the part would fit; the same for the history a provider is sent."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from copass_router import (
    Error,
    ImagePart,
    InvalidRequestError,
    Message,
    PartNotTakenError,
    PartsTooLargeError,
    PartSupport,
    ProviderError,
    RetryPolicy,
    Router,
    RunFinished,
    StopReason,
)
from copass_router.testing import SAMPLE_PNG, ScriptedBackend, ScriptedPlugin

LIMIT = 1000
PER_REQUEST = 1500


def _png(size: int) -> bytes:
    return SAMPLE_PNG + b"\0" * (size - len(SAMPLE_PNG))


class SmallImages(ScriptedBackend):
    """A provider taking PNG images up to LIMIT bytes each, PER_REQUEST in one request."""

    part_support = {
        "image": PartSupport(
            {"image/png"}, urls=True, max_bytes=LIMIT, max_request_bytes=PER_REQUEST
        )
    }


class AnyImages(ScriptedBackend):
    """A provider taking PNG images of any size."""

    part_support = {"image": PartSupport({"image/png"})}


def _router(make_router: Any, **backends: ScriptedBackend) -> Router:
    return make_router(  # type: ignore[no-any-return]
        plugins=[ScriptedPlugin(**backends)], retry_policy=RetryPolicy(max_retries=0)
    )


async def _events(router: Router, **fields: Any) -> list[Any]:
    return [e async for e in router.run(**fields)]


def test_the_limit_is_on_the_decoded_bytes_and_not_on_a_url() -> None:
    support = SmallImages.part_support["image"]
    assert support.takes(ImagePart("image/png", _png(LIMIT)))
    assert not support.takes(ImagePart("image/png", _png(LIMIT + 1)))
    # Base64 of LIMIT bytes is longer than LIMIT characters: what counts is the decoded size.
    assert support.takes(ImagePart("image/png", base64.b64encode(_png(LIMIT)).decode()))
    assert support.takes(ImagePart("image/png", url="https://example.com/huge.png"))
    assert PartSupport({"image/png"}).max_bytes is None


async def test_a_part_over_the_limit_is_refused_before_the_run(make_router: Any) -> None:
    small = SmallImages()
    router = _router(make_router, small=small)
    with pytest.raises(PartNotTakenError) as refused:
        await _events(router, provider="small", message=["see", ImagePart("image/png", _png(1001))])
    message = str(refused.value)
    assert "provider 'small' cannot take message[1], an image of image/png as bytes" in message
    assert "it is 1001 bytes, over the 1000-byte limit 'small' has for an image" in message
    assert "send a smaller image" in message
    assert "or run on a provider whose limit it fits: echo" in message
    assert refused.value.limit == LIMIT and refused.value.takers == ("echo",)
    assert small.turns == [] and await router.list_sessions() == []


async def test_a_base64_part_over_the_limit_is_refused_by_its_decoded_size(
    make_router: Any,
) -> None:
    router = _router(make_router, small=SmallImages())
    data = base64.b64encode(_png(1200)).decode()
    part = {"type": "image", "media_type": "image/png", "data": data}
    with pytest.raises(PartNotTakenError, match="it is 1200 bytes, over the 1000-byte limit"):
        await _events(router, provider="small", message=[part])


async def test_a_part_at_the_limit_goes_through(make_router: Any) -> None:
    small = SmallImages()
    small.enqueue(Message(text="seen"))
    router = _router(make_router, small=small)
    events = await _events(router, provider="small", message=[ImagePart("image/png", _png(LIMIT))])
    assert isinstance(events[-1], RunFinished) and events[-1].stop_reason is StopReason.END_TURN
    assert [p.size for p in small.turns[0].parts] == [LIMIT]


async def test_parts_over_the_limit_of_one_request_are_refused_together(
    make_router: Any,
) -> None:
    small = SmallImages()
    router = _router(make_router, small=small)
    parts = [ImagePart("image/png", _png(800)), ImagePart("image/png", _png(800))]
    with pytest.raises(PartsTooLargeError) as refused:
        await _events(router, provider="small", message=["two", *parts])
    message = str(refused.value)
    assert "the images and files of this message come to 1600 bytes" in message
    assert "provider 'small' takes at most 1500 bytes of them in one request" in message
    assert "send fewer or smaller parts, or run on a provider that takes them: echo" in message
    assert refused.value.code == "payload_too_large"
    assert small.turns == []


async def test_a_history_part_over_the_next_providers_limit_fails_the_turn_unsent(
    make_router: Any,
) -> None:
    small = SmallImages()
    router = _router(make_router, small=small)
    first = await _events(
        router, provider="echo", message=["hi", ImagePart("image/png", _png(1001))]
    )
    session = first[-1].session_id
    events = await _events(router, provider="small", message="and now?", session_id=session)
    [error] = [e for e in events if isinstance(e, Error)]
    assert error.code == "invalid_request"
    assert "the image the user sent in turn 0 of this session" in error.message
    assert "over the 1000-byte limit 'small' has for an image" in error.message
    assert "start a new session" in error.message
    assert small.turns == [], "the provider was never called"


async def test_history_and_message_over_one_requests_limit_fail_the_turn_unsent(
    make_router: Any,
) -> None:
    small = SmallImages()
    router = _router(make_router, small=small)
    first = await _events(
        router, provider="echo", message=["hi", ImagePart("image/png", _png(900))]
    )
    session = first[-1].session_id
    events = await _events(
        router,
        provider="small",
        message=["and this", ImagePart("image/png", _png(900))],
        session_id=session,
    )
    [error] = [e for e in events if isinstance(e, Error)]
    assert error.code == "payload_too_large"
    assert "of the earlier turns of this session it must carry come to 1800 bytes" in error.message
    assert small.turns == []


class NativeSessions(SmallImages):
    """SmallImages keeping a native session: a turn whose message asks for it starts a new
    one, sent every earlier turn (``Turn.full_history``), as a backend whose session is gone."""

    keeps_native_session = True

    async def run_turn(self, turn: Any) -> Any:
        if "start over" in turn.message:
            await turn.full_history()
        async for event in super().run_turn(turn):
            yield event
        turn.bind("native-1")


async def test_the_whole_history_a_new_native_session_is_sent_is_checked_too(
    make_router: Any,
) -> None:
    native = NativeSessions()
    router = _router(make_router, native=native)
    first = await _events(
        router, provider="native", message=["hi", ImagePart("image/png", _png(900))]
    )
    assert first[-1].stop_reason is StopReason.END_TURN
    # The native session saw the first turn: only this message counts (800 bytes)...
    events = await _events(
        router,
        provider="native",
        message=["start over", ImagePart("image/png", _png(800))],
        session_id=first[-1].session_id,
    )
    # ... until the backend starts a new one and must send the first turn's image too.
    [error] = [e for e in events if isinstance(e, Error)]
    assert error.code == "payload_too_large" and "1700 bytes" in error.message
    assert native.finished == 1 and len(native.turns) == 1  # the second never ran


async def test_a_fallback_that_cannot_take_the_part_refuses_the_run(make_router: Any) -> None:
    small = SmallImages()
    router = _router(make_router, small=small)
    with pytest.raises(InvalidRequestError) as refused:
        await _events(
            router,
            provider="echo",
            message=["see", ImagePart("image/png", _png(1001))],
            fallbacks=[{"provider": "small"}],
        )
    assert "fallbacks[0]: provider 'small' cannot take message[1]" in str(refused.value)
    assert "over the 1000-byte limit" in str(refused.value)
    assert await router.list_sessions() == []


async def test_failing_over_to_a_provider_that_cannot_take_the_history_sends_nothing(
    make_router: Any,
) -> None:
    primary, small = AnyImages(), SmallImages()
    router = _router(make_router, primary=primary, small=small)
    first = await _events(
        router, provider="echo", message=["hi", ImagePart("image/png", _png(1001))]
    )
    primary.enqueue(raises=ProviderError("down", provider="primary", status=503))
    events = await _events(
        router,
        provider="primary",
        message="go on",
        session_id=first[-1].session_id,
        fallbacks=[{"provider": "small"}],
    )
    errors = [e for e in events if isinstance(e, Error)]
    assert any("over the 1000-byte limit 'small' has" in e.message for e in errors)
    assert isinstance(events[-1], RunFinished) and events[-1].stop_reason is StopReason.ERROR
    assert small.turns == [], "nothing was sent to the fallback"
