"""What readers of the Copass SDK's docs write: a dict of camelCase fields for a run, and runs
without a session id that continue the end user's conversation (when the router says so)."""

from __future__ import annotations

import pytest

from copass_router import InvalidRequestError, Router, RouterError, TextDelta


def _router(**settings: object) -> Router:
    return Router(store=":memory:", load_entry_points=False, environ={}, **settings)  # type: ignore[arg-type]


async def test_a_dict_of_fields_runs_in_either_spelling() -> None:
    async with _router() as router:
        result = await router.complete({"provider": "echo", "message": "hi", "endUserId": "u-1"})
        assert result.text == "echo: hi"
        [info] = await router.list_sessions("u-1")
        again = await router.complete(
            {
                "provider": "echo",
                "message": "/recall",
                "end_user_id": "u-1",
                "sessionId": info.session_id,
            }
        )
        assert "user: hi" in again.text


@pytest.mark.parametrize(
    ("request_", "says"),
    [
        ({"provider": "echo"}, "message is required"),
        ({"provider": "echo", "message": "hi", "endUserID": "x"}, "unknown run field 'endUserID'"),
        ({"provider": "echo", "message": "hi", 3: "x"}, "run field names are strings"),
        ("provider=echo", "takes a RunRequest, a dict of its fields or keyword fields; got a str"),
    ],
)
async def test_a_bad_request_object_raises_a_router_error(request_: object, says: str) -> None:
    async with _router() as router:
        with pytest.raises(RouterError, match=says) as raised:
            router.run(request_)  # type: ignore[arg-type]
    assert isinstance(raised.value, InvalidRequestError)


async def test_continue_latest_session_carries_the_conversation_across_providers() -> None:
    async with _router(continue_latest_session=True) as router:
        first = await router.complete(provider="echo", message="my name is Ana", end_user_id="ana")
        await router.complete(provider="echo", message="hello", end_user_id="bob")
        second = await router.complete(provider="echo", message="/recall", end_user_id="ana")
        assert second.session_id == first.session_id
        assert "user: my name is Ana" in second.text and "hello" not in second.text
        # an explicit session id is unchanged: it names the session it runs on
        other = await router.complete(provider="echo", message="x", end_user_id="bob")
        assert other.session_id != first.session_id


async def test_without_the_setting_each_run_starts_a_session() -> None:
    async with _router() as router:
        first = await router.complete(provider="echo", message="one", end_user_id="ana")
        second = await router.complete(provider="echo", message="two", end_user_id="ana")
    assert first.session_id != second.session_id


def test_the_setting_comes_from_the_environment() -> None:
    assert Router(environ={"COPASS_ROUTER_CONTINUE_LATEST_SESSION": "1"}).continue_latest_session
    assert not Router(environ={}).continue_latest_session
    router = Router(
        environ={"COPASS_ROUTER_CONTINUE_LATEST_SESSION": "1"}, continue_latest_session=False
    )
    assert not router.continue_latest_session


async def test_text_deltas_are_the_same_either_way() -> None:
    async with _router(continue_latest_session=True) as router:
        events = [
            e async for e in router.run({"provider": "echo", "message": "a b", "endUserId": "z"})
        ]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "echo: a b"
