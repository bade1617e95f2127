"""Figure 2p: `Router.run` against a published peer client on the same work.

The peer is ``copass-anthropic-agents`` (the Anthropic Managed Agents client the ``bench`` extra
installs). Both drive the same ``anthropic`` SDK against one Anthropic emulator process: a new
session per turn, and two turns, a tool round trip (the tool's result makes the model say ~200
words) and a text-only turn of ~200 words. Peer and router turns alternate round after round,
so drift on a shared machine hits both alike; router/peer is the median of the rounds' own
ratios, with quartiles, extremes and the load average. The peer streams whole messages; the
router streams text deltas (what its users see), so this figure also prices the deltas: the
emulator's model is instant, so the 200 deltas are all the provider does. A third turn, with
no target, has the model take 1 ms a token (~100 words), as a real one takes longer: both
then wait for its words.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from typing import Any

from copass_router import Router, TextDelta, tool

from .emulator_process import emulator_process
from .report import Figure
from .turn_latency import PROMPT, WORDS, lookup

KEY = "sk-ant-bench-0123456789abcdef"
SYSTEM = "Benchmark agent."
ROUNDS = int(os.environ.get("COPASS_BENCH_ROUNDS", "40"))
#: A model that takes 1 ms a token (event loops' timers are no finer): both wait for its words.
PACED = "/slow 0.001 " + " ".join(f"w{i}" for i in range(1, 100))
PACED_LABEL = "text-only, 1 ms a token"
TURNS = {"tool round trip": PROMPT, "text-only": "/long 200", PACED_LABEL: PACED}
#: The turns with a target (the paced one shows what a model's own pace leaves of the gap).
TARGETED = ("tool round trip", "text-only")


@tool(name="lookup")
async def async_lookup(key: str) -> str:
    """Look a key up."""
    return str(lookup.function(key=key))


def loadavg() -> float:
    """The one-minute load average (0.0 where /proc is missing)."""
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except OSError:
        return 0.0


def _peer_agent(base_url: str) -> Any:
    """The peer client's agent with the same tool as the router's."""
    import logging

    import anthropic
    from copass_anthropic_agents import AgentTool, AgentToolRegistry, CopassManagedAgent, ToolSpec

    class Lookup(AgentTool):  # type: ignore[misc]
        @property
        def spec(self) -> Any:
            return ToolSpec(
                name="lookup",
                description="Look a key up.",
                input_schema={"type": "object", "properties": {"key": {"type": "string"}}},
            )

        async def invoke(self, arguments: dict[str, Any], *, context: Any = None) -> Any:
            return lookup.function(**arguments)

    # Its warnings (a non-dict tool result, an event type it does not know) would print a line
    # per turn: silenced, which only makes the peer faster.
    logging.getLogger("copass_anthropic_agents").setLevel(logging.ERROR)
    tools = AgentToolRegistry()
    tools.add(Lookup())
    client = anthropic.AsyncAnthropic(api_key=KEY, base_url=base_url, max_retries=0)
    return CopassManagedAgent(
        identity="bench",
        system_prompt=SYSTEM,
        anthropic_client=client,
        tools=tools,
        prefetch_discover=False,
        auto_record=False,
    )


async def _peer(agent: Any, prompt: str) -> tuple[float, str]:
    from copass_anthropic_agents import AgentInvocationContext, AgentScope, AgentTextDelta

    context = AgentInvocationContext(scope=AgentScope(user_id="bench"))
    start = time.perf_counter()
    text = []
    async for event in agent.stream(prompt, context=context):
        if isinstance(event, AgentTextDelta):
            text.append(event.text)
    return time.perf_counter() - start, "".join(text)


async def _routed(router: Router, prompt: str) -> tuple[float, str]:
    start = time.perf_counter()
    text = []
    async for event in router.run(message=prompt, provider="anthropic", system=SYSTEM):
        if isinstance(event, TextDelta):
            text.append(event.text)
    return time.perf_counter() - start, "".join(text)


def _check(label: str, peer: str, routed: str) -> None:
    # Both must have done the same work, or the ratio means nothing (the peer sends a tool's
    # result as JSON, the router as text: the words must be there in both).
    last = {"tool round trip": WORDS.split()[-1], PACED_LABEL: "w99"}.get(label, "w200")
    if last not in peer or last not in routed:
        raise RuntimeError(f"{label}: the peer and the router said different things")


async def _measure(base_url: str) -> list[Figure]:
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": base_url}
    # The same tool as the peer's: a coroutine that looks the key up (a sync function would
    # run in a worker thread, which the peer's does not).
    router = Router(store=":memory:", environ=env, tools=[async_lookup])
    agent = _peer_agent(base_url)
    figures: list[Figure] = []
    try:
        for label, prompt in TURNS.items():
            _check(label, (await _peer(agent, prompt))[1], (await _routed(router, prompt))[1])
            peer_s, routed_s, ratios = [], [], []
            load = [loadavg()]
            for _ in range(ROUNDS):
                p = (await _peer(agent, prompt))[0]
                r = (await _routed(router, prompt))[0]
                peer_s.append(p)
                routed_s.append(r)
                ratios.append(r / p)
            load.append(loadavg())
            ratios.sort()
            ratio = statistics.median(ratios)
            quartiles = statistics.quantiles(ratios, n=4)
            detail = {
                "peer_ms": statistics.median(peer_s) * 1000,
                "router_ms": statistics.median(routed_s) * 1000,
                "quartiles": quartiles,
                "spread": [ratios[0], ratios[-1]],
                "rounds": ROUNDS,
                "load": load,
            }
            print(
                f"  {label}: peer {detail['peer_ms']:.1f} ms, router {detail['router_ms']:.1f} ms,"
                f" router/peer {ratio:.3f} (quartiles {quartiles[0]:.3f}-{quartiles[2]:.3f},"
                f" load {load[0]:.1f}-{load[1]:.1f})",
                flush=True,
            )
            targeted = label in TARGETED
            figures.append(
                Figure(
                    f"2p. {label}: Router.run / copass-anthropic-agents",
                    ratio,
                    "x",
                    "<= 1.00" if targeted else "",
                    ratio <= 1.0 if targeted else None,
                    detail,
                )
            )
    finally:
        await router.aclose()
        await agent.backend._client.close()
    return figures


def run() -> list[Figure]:
    with emulator_process("anthropic") as base_url:
        return asyncio.run(_measure(base_url))
