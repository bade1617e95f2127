"""The Open Responses and AG-UI endpoints across workers: a run started on one worker is read,
resumed, continued and cancelled through another that shares Redis and the session store."""

from __future__ import annotations

import json

from openai import AsyncOpenAI

from ..conftest import KEY_ALPHA, Hosted, parse_frames
from .test_resume_redis import Workers, workers  # noqa: F401 - the two-worker fixture


def sdk(hosted: Hosted) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=hosted.url + "/v1", api_key=KEY_ALPHA, max_retries=0, timeout=10)


async def test_a_response_is_read_resumed_and_cancelled_on_another_worker(
    workers: Workers,  # noqa: F811
) -> None:
    a, b = await workers()
    started = await sdk(a).responses.create(
        model="echo/echo-1", input="/slow 0.1 a b c", background=True
    )
    resumed = [
        e async for e in await sdk(b).responses.retrieve(started.id, stream=True, starting_after=2)
    ]
    assert resumed[0].sequence_number == 3 and resumed[-1].type == "response.completed"
    assert (await sdk(b).responses.retrieve(started.id)).output_text == "echo: a b c"
    following = await sdk(b).responses.create(
        model="echo/echo-1", input="/recall", previous_response_id=started.id
    )
    assert "user: /slow 0.1 a b c" in following.output_text
    slow = await sdk(a).responses.create(model="echo/echo-1", input="/slow 5 x y", background=True)
    assert (await sdk(b).responses.cancel(slow.id)).status == "cancelled"


async def test_an_agui_run_resumes_on_another_worker(workers: Workers) -> None:  # noqa: F811
    a, b = await workers()
    body = {
        "threadId": "shared-thread",
        "runId": "r-1",
        "messages": [{"id": "m", "role": "user", "content": "/slow 0.05 one two three"}],
        "forwardedProps": {"model": "echo/echo-1"},
    }
    async with a.http() as on_a, b.http() as on_b:
        whole = await on_a.post("/v1/agui", json=body)
        frames = [f for f in parse_frames(whole.text) if "data" in f]
        run_id = whole.headers["x-copass-run-id"]
        rest = await on_b.get(
            f"/v1/agui/runs/{run_id}/events",
            params={"threadId": "shared-thread", "runId": "r-1"},
            headers={"Last-Event-ID": frames[2]["id"]},
        )
    again = [f for f in parse_frames(rest.text) if "data" in f]
    assert [f["id"] for f in again] == [f["id"] for f in frames[3:]]
    assert [json.loads(f["data"]) for f in again] == [json.loads(f["data"]) for f in frames[3:]]
