"""Generation settings travel over the wire like any run field, and are refused the same way."""

from __future__ import annotations

from copass_router import Message, RunFinished, StopReason

from .conftest import Hosted


async def test_settings_reach_the_model_through_a_hosted_router(hosted: Hosted) -> None:
    async with hosted.remote() as remote:
        events = [
            e
            async for e in remote.run(
                provider="echo", message="/settings", temperature=0.3, stop="END"
            )
        ]
        cut = await remote.complete(provider="echo", message="/long 9", max_output_tokens=2)
    text = "".join(e.text for e in events if isinstance(e, Message))
    assert text == 'temperature=0.3 max_output_tokens=none stop=["END"]'
    assert isinstance(events[-1], RunFinished)
    assert cut.text == "w1 w2" and cut.stop_reason is StopReason.MAX_TOKENS


async def test_a_provider_without_the_setting_refuses_it_over_the_wire(hosted: Hosted) -> None:
    async with hosted.http() as http:
        response = await http.post(
            "/v1/runs", json={"provider": "scripted", "message": "hi", "temperature": 0.5}
        )
    assert response.status_code == 400
    problem = response.json()
    assert problem["code"] == "invalid_request" and problem["field"] == "temperature"
    assert "provider 'scripted' has no equivalent of 'temperature'" in problem["detail"]
