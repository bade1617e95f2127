"""A hosted run request may spell its fields as JavaScript clients do (``endUserId``)."""

from __future__ import annotations

from .conftest import Hosted, frame_events, problem_of


async def test_camel_case_fields_run_as_their_snake_case_names(hosted: Hosted) -> None:
    async with hosted.http() as http:
        first = await http.post(
            "/v1/runs", json={"provider": "echo", "message": "first", "endUserId": "u-123"}
        )
        session = frame_events(first.text)[0].session_id
        again = await http.post(
            "/v1/runs",
            json={
                "provider": "echo",
                "message": "/recall",
                "endUserId": "u-123",
                "sessionId": session,
                "maxToolRounds": 2,
            },
        )
        other_user = await http.post(
            "/v1/runs",
            json={
                "provider": "echo",
                "message": "/recall",
                "endUserId": "u-9",
                "sessionId": session,
            },
        )
    assert first.status_code == 200 and again.status_code == 200
    assert "user: first" in "".join(getattr(e, "text", "") for e in frame_events(again.text))
    assert other_user.status_code == 404  # the end user really was u-123


async def test_both_spellings_of_one_field_or_an_unknown_one_are_refused(hosted: Hosted) -> None:
    async with hosted.http() as http:
        twice = await http.post(
            "/v1/runs",
            json={"provider": "echo", "message": "hi", "endUserId": "a", "end_user_id": "b"},
        )
        unknown = await http.post(
            "/v1/runs", json={"provider": "echo", "message": "hi", "endUserID": "a"}
        )
    assert twice.status_code == 400
    assert "'end_user_id' is given twice" in problem_of(twice)["detail"]
    assert unknown.status_code == 400
    assert "unknown run field 'endUserID'" in problem_of(unknown)["detail"]
