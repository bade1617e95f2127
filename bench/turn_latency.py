"""Figure 2: a whole turn against an emulator, three ways, same scripted turn.

(a) the provider SDK driven directly by the smallest correct hand-written loop, (b) Router.run in
process, (c) `copass-router serve` + RemoteRouter. The turn: one tool round trip whose result
makes the model stream about 200 text deltas. Also time to the first text event.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from copass_router import Router, TextDelta, tool

from .emulator_process import emulator_process
from .report import Figure

RUNS = 31
WORDS = " ".join(f"w{i}" for i in range(196))
PROMPT = '/tool lookup {"key": "k"}'


@tool
def lookup(key: str) -> str:
    """Look a key up."""
    return WORDS


async def _direct_openai(client: Any) -> tuple[float, float]:
    """The hand-written loop, on one client kept across turns (as the router keeps its own:
    building a client per turn costs (a) a few milliseconds of TLS set-up it need not pay)."""
    tools = [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "parameters": {"type": "object", "properties": {"key": {"type": "string"}}},
            },
        }
    ]
    messages: list[dict[str, Any]] = [{"role": "user", "content": PROMPT}]
    start = time.perf_counter()
    first_text = 0.0
    for _ in range(2):
        stream = await client.chat.completions.create(
            model="m",
            messages=messages,
            tools=tools,
            stream=True,  # type: ignore[arg-type]
        )
        calls: dict[int, dict[str, str]] = {}
        async for chunk in stream:
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            if delta.content and not first_text:
                first_text = time.perf_counter() - start
            for piece in delta.tool_calls or ():
                call = calls.setdefault(piece.index, {"id": "", "name": "", "arguments": ""})
                call["id"] = piece.id or call["id"]
                if piece.function:
                    call["name"] += piece.function.name or ""
                    call["arguments"] += piece.function.arguments or ""
        if not calls:
            break
        messages.append(
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": c["id"],
                        "type": "function",
                        "function": {"name": c["name"], "arguments": c["arguments"]},
                    }
                    for c in calls.values()
                ],
            }
        )
        for c in calls.values():
            output = lookup.function(**json.loads(c["arguments"]))
            messages.append({"role": "tool", "tool_call_id": c["id"], "content": output})
    return time.perf_counter() - start, first_text


async def _through(router: Any, **fields: Any) -> tuple[float, float]:
    start = time.perf_counter()
    first_text = 0.0
    async for event in router.run(message=PROMPT, **fields):
        if isinstance(event, TextDelta) and not first_text:
            first_text = time.perf_counter() - start
    return time.perf_counter() - start, first_text


def _median(samples: list[tuple[float, float]]) -> tuple[float, float]:
    totals = sorted(s[0] for s in samples)
    firsts = sorted(s[1] for s in samples)
    return totals[len(totals) // 2], firsts[len(firsts) // 2]


async def compare(
    label: str,
    direct: Callable[[], Awaitable[tuple[float, float]]],
    env: dict[str, str],
    fields: dict[str, Any],
) -> list[Figure]:
    """The same turn three ways: ``direct`` (the SDK by hand), Router.run, serve+RemoteRouter.

    Direct and routed turns alternate, round after round, so drift on a shared machine hits
    both alike; b/a is the median of the rounds' own ratios, with their spread.
    """
    router = Router(store=":memory:", environ=env, tools=[lookup])
    await _through(router, **fields)  # warm up: imports, clients, cached resources
    await direct()
    direct_samples, routed = [], []
    for _ in range(RUNS):
        direct_samples.append(await direct())
        routed.append(await _through(router, **fields))
    await router.aclose()
    (a, a_first), (b, b_first) = _median(direct_samples), _median(routed)
    ratios = sorted(r[0] / d[0] for d, r in zip(direct_samples, routed, strict=True))
    ratio = statistics.median(ratios)
    quartiles = statistics.quantiles(ratios, n=4)
    figures = [
        Figure(
            f"2. {label} turn, SDK direct (a)",
            a * 1000,
            "ms",
            detail={"first_text_ms": a_first * 1000},
        ),
        Figure(
            f"2. {label} turn, Router.run (b)",
            b * 1000,
            "ms",
            detail={"first_text_ms": b_first * 1000},
        ),
        Figure(
            f"2. {label} b/a (median of {RUNS} interleaved rounds)",
            ratio,
            "x",
            "<= 1.02",
            ratio <= 1.02,
            {"quartiles": quartiles, "spread": [ratios[0], ratios[-1]]},
        ),
    ]
    remote = await _remote(env, fields)
    if remote is not None:
        c, c_first = remote
        figures += [
            Figure(
                f"2. {label} turn, serve + RemoteRouter (c)",
                c * 1000,
                "ms",
                detail={"first_text_ms": c_first * 1000},
            ),
            Figure(f"2. {label} c/a", c / a, "x", "<= 1.25", c / a <= 1.25),
        ]
    return figures


async def _openai_compatible() -> list[Figure]:
    with emulator_process("openai") as root:
        base_url = root + "/v1"
        env = {"COPASS_ROUTER_OPENAI_COMPATIBLE_BASE_URL": base_url}
        fields = {"provider": "openai-compatible", "model": "m"}
        import openai

        client = openai.AsyncOpenAI(base_url=base_url, api_key="none", max_retries=0)
        try:
            return await compare("openai-compatible", lambda: _direct_openai(client), env, fields)
        finally:
            await client.close()


async def _remote(env: dict[str, str], fields: dict[str, Any]) -> tuple[float, float] | None:
    try:
        from .hosted_harness import hosted_router
    except ImportError:
        return None
    async with hosted_router(env) as remote:
        await _through(remote, **fields)
        samples = [await _through(remote, **fields) for _ in range(RUNS)]
    return _median(samples)


def run() -> list[Figure]:
    return asyncio.run(_openai_compatible())
