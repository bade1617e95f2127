"""Failover with memory intact: a turn whose provider fails goes on with the next one.

Faults are injected in each provider's emulator (the kit's fault API); what the next provider
received is read from its emulator's request log. Every ordered pair of networked providers (and
each of them to echo) runs in-process and through a hosted router.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import copass_router_anthropic
import copass_router_google
import copass_router_openai
import pytest
from copass_router_anthropic.emulator import running_emulator as anthropic_emulator
from copass_router_google.emulator import running_emulator as google_emulator
from copass_router_google.emulator.interactions import running_emulator as gemini_emulator
from copass_router_openai.emulator import running_emulator as openai_emulator
from copass_router_openai.emulator.agents import running_emulator as agents_emulator

from copass_router import (
    Error,
    Failover,
    FailoverPolicy,
    InvalidRequestError,
    Retry,
    RetryPolicy,
    Router,
    RunFinished,
    StopReason,
    ToolResult,
    TurnStatus,
    tool,
)
from copass_router.client._remote_router import RemoteRouter
from copass_router.run._results import RunResult, collect
from copass_router.server import create_app, start_server

NETWORKED = ["anthropic", "google", "gemini-agents", "openai-compatible", "openai-agents"]
PAIRS = [*itertools.permutations(NETWORKED, 2), *((p, "echo") for p in NETWORKED)]
ANTHROPIC_KEY = "sk-ant-api03-FAILOVER0123456789abcdef"
OPENAI_KEY = "sk-failover-0123456789abcdef"
GEMINI_KEY = "gemini-failover-0123456789abcdef"
API_KEY = "failover-key-0123456789abcdef"
PROJECT = "failover-project"


class Emulators:
    def __init__(self, anthropic: Any, google: Any, openai: Any, gemini: Any, agents: Any) -> None:
        self.by_provider = {
            "anthropic": anthropic,
            "google": google,
            "gemini-agents": gemini,
            "openai-compatible": openai,
            "openai-agents": agents,
        }
        #: Tool runs, and a fault the ``arm`` tool sets while the turn runs.
        self.lookups: list[str] = []
        self.armed: str | None = None

    def of(self, provider: str) -> Any:
        return self.by_provider[provider]

    def received_since(self, provider: str, mark: int) -> str:
        if provider == "echo":
            return ""
        return json.dumps([r.body for r in self.of(provider).requests][mark:], default=str)

    def mark(self, provider: str) -> int:
        return 0 if provider == "echo" else len(self.of(provider).requests)

    def clear(self) -> None:
        for emulator in self.by_provider.values():
            emulator.faults.clear()
        self.armed = None


@pytest.fixture(scope="module")
def emulators() -> Iterator[Emulators]:
    with (
        anthropic_emulator(api_key=ANTHROPIC_KEY) as anthropic,
        google_emulator() as google,
        openai_emulator(api_key=OPENAI_KEY) as openai,
        gemini_emulator(api_key=GEMINI_KEY) as gemini,
        agents_emulator(api_key=OPENAI_KEY) as agents,
    ):
        yield Emulators(anthropic, google, openai, gemini, agents)


def _tools(emulators: Emulators) -> list[Any]:
    @tool
    def lookup(key: str) -> str:
        """Look a key up."""
        emulators.lookups.append(key)
        if emulators.armed is not None:
            # The provider fails from its next request on: mid-turn, after this tool ran.
            emulators.of(emulators.armed).faults.fail_next(500, count=2)
        return f"value-{key}"

    return [lookup]


@pytest.fixture
async def setup(
    make_router: Callable[..., Router], emulators: Emulators
) -> AsyncIterator[tuple[Router, str]]:
    env = {
        "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
        "ANTHROPIC_BASE_URL": emulators.of("anthropic").base_url,
        "COPASS_ROUTER_GOOGLE_BASE_URL": emulators.of("google").base_url,
        "COPASS_ROUTER_GOOGLE_ACCESS_TOKEN": "emulator-token",
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "COPASS_ROUTER_OPENAI_COMPATIBLE_BASE_URL": emulators.of("openai-compatible").base_url,
        "COPASS_ROUTER_OPENAI_COMPATIBLE_API_KEY": OPENAI_KEY,
        "GEMINI_API_KEY": GEMINI_KEY,
        "GEMINI_BASE_URL": emulators.of("gemini-agents").base_url,
        "OPENAI_API_KEY": OPENAI_KEY,
        "COPASS_ROUTER_OPENAI_AGENTS_BASE_URL": emulators.of("openai-agents").base_url,
    }
    plugins = [copass_router_anthropic, copass_router_google, copass_router_openai]
    router = make_router(
        plugins=plugins,
        environ=env,
        tools=_tools(emulators),
        retry_policy=RetryPolicy(max_retries=1, initial_delay=0.01, jitter=False),
    )
    server = await router.start_dispatch_server()
    engine = emulators.of("google").add_engine(
        display_name="failover-agent", dispatch_url=router.dispatch_url, project=PROJECT
    )
    emulators.lookups.clear()
    yield router, engine
    emulators.clear()
    await server.aclose()


def _fields(provider: str, engine: str) -> dict[str, Any]:
    fields: dict[str, Any] = {"provider": provider}
    if provider == "google":
        fields["reasoning_engine_id"] = engine
    if provider.startswith("openai"):
        fields["model"] = "gpt-test"
    return fields


class Via:
    """Runs turns in-process or through a hosted router over HTTP."""

    def __init__(self, router: Router, remote: RemoteRouter | None) -> None:
        self.router, self.remote = router, remote

    async def run(self, **fields: Any) -> RunResult:
        runner = self.remote or self.router
        return await collect(runner.run(end_user_id="traveller", **fields))

    @property
    def user(self) -> str:
        return "failover:traveller" if self.remote else "traveller"


@pytest.fixture(params=["in-process", "hosted"])
async def via(request: pytest.FixtureRequest, setup: tuple[Router, str]) -> AsyncIterator[Via]:
    router, _ = setup
    if request.param == "in-process":
        yield Via(router, None)
        return
    app = create_app(router, api_keys=[f"failover:{API_KEY}"])
    server = await start_server(app)
    yield Via(router, RemoteRouter(server.base_url, API_KEY))
    await server.aclose()


@pytest.mark.parametrize(("first", "second"), PAIRS)
async def test_a_failing_provider_hands_the_turn_to_the_next_with_memory_intact(
    setup: tuple[Router, str], via: Via, emulators: Emulators, first: str, second: str
) -> None:
    _, engine = setup
    one = await via.run(message='/tool lookup {"key": "f-1"}', **_fields(first, engine))
    assert one.stop_reason is StopReason.END_TURN, one.errors

    # The core retries once, then the turn moves: every request of ``first`` fails with 503.
    emulators.of(first).faults.fail_next(503, count=2)
    mark = emulators.mark(second)
    two = await via.run(
        message="/recall",
        session_id=one.session_id,
        fallbacks=[_fields(second, engine)],
        **_fields(first, engine),
    )
    emulators.clear()
    assert two.stop_reason is StopReason.END_TURN, two.errors
    assert [e for e in two.events if isinstance(e, Retry)], "the core retries before failing over"
    [notice] = [e for e in two.events if isinstance(e, Failover)]
    assert (notice.from_provider, notice.to_provider) == (first, second)
    assert notice.code == "overloaded" and notice.to_model
    assert not [e for e in two.events if isinstance(e, Error)]
    finished = two.events[-1]
    assert isinstance(finished, RunFinished) and finished.provider == second
    seqs = [e.seq for e in two.events]
    assert seqs == list(range(len(seqs))), "event numbers stay contiguous across the switch"
    assert "value-f-1" in two.text and '/tool lookup {"key": "f-1"}' in two.text
    if second != "echo":
        assert "value-f-1" in emulators.received_since(second, mark)
    assert emulators.lookups == ["f-1"], "no tool runs again because of a switch"

    # Back on the first provider: its native session (if any) gets the turn it missed.
    three = await via.run(message="/recall", session_id=one.session_id, **_fields(first, engine))
    assert three.stop_reason is StopReason.END_TURN, three.errors
    assert "assistant: recall:" in three.text, three.text
    turns = await via.router.transcript(one.session_id, via.user)
    assert [t.provider for t in turns] == [first, second, first]
    assert all(t.status is TurnStatus.COMPLETED for t in turns)
    assert turns[1].provider_data["failovers"] == [
        {
            "from_provider": first,
            "from_model": notice.from_model,
            "to_provider": second,
            "to_model": notice.to_model,
            "code": "overloaded",
        }
    ]
    assert "failovers" not in turns[0].provider_data and "failovers" not in turns[2].provider_data


MID_TURN = [(a, b) for a, b in PAIRS if a in ("anthropic", "openai-compatible")]


@pytest.mark.parametrize(("first", "second"), MID_TURN)
async def test_a_provider_failing_mid_turn_hands_over_the_tool_results_so_far(
    setup: tuple[Router, str], emulators: Emulators, first: str, second: str
) -> None:
    router, engine = setup
    emulators.armed = first  # the tool makes ``first`` fail after it ran
    mark = emulators.mark(second)
    result = await router.complete(
        message='/tool lookup {"key": "mid-1"}',
        end_user_id="traveller",
        fallbacks=[_fields(second, engine)],
        **_fields(first, engine),
    )
    emulators.clear()
    assert result.stop_reason is StopReason.END_TURN, result.errors
    [notice] = [e for e in result.events if isinstance(e, Failover)]
    assert (notice.from_provider, notice.to_provider, notice.code) == (
        first,
        second,
        "server_error",
    )
    assert emulators.lookups == ["mid-1"], "the tool ran once; its result was carried over"
    assert [e.output for e in result.events if isinstance(e, ToolResult)] == ["value-mid-1"]
    if second != "echo":
        assert "value-mid-1" in emulators.received_since(second, mark)
    [turn] = await router.transcript(result.session_id, "traveller")
    assert turn.provider == second and turn.status is TurnStatus.COMPLETED
    assert turn.user == '/tool lookup {"key": "mid-1"}'
    assert "value-mid-1" in json.dumps([str(i) for i in turn.items])


async def test_a_failure_the_policy_does_not_name_ends_the_turn(
    setup: tuple[Router, str], emulators: Emulators
) -> None:
    router, engine = setup
    emulators.of("openai-compatible").faults.fail_next(400, count=1)
    result = await router.complete(
        message="hi",
        fallbacks=[{"provider": "echo"}],
        **_fields("openai-compatible", engine),
    )
    assert result.stop_reason is StopReason.ERROR
    assert not [e for e in result.events if isinstance(e, Failover)]
    assert result.events[-1].provider == "openai-compatible"  # type: ignore[attr-defined]


async def test_the_router_policy_supplies_fallbacks_for_runs_naming_none(
    make_router: Callable[..., Router], emulators: Emulators
) -> None:
    router = make_router(
        plugins=[copass_router_openai],
        environ={
            "COPASS_ROUTER_OPENAI_COMPATIBLE_BASE_URL": emulators.of("openai-compatible").base_url,
            "COPASS_ROUTER_OPENAI_COMPATIBLE_API_KEY": OPENAI_KEY,
        },
        retry_policy=RetryPolicy(max_retries=0),
        failover=FailoverPolicy(fallbacks=[{"provider": "echo"}]),
    )
    emulators.of("openai-compatible").faults.fail_next(429, count=1)
    result = await router.complete(provider="openai-compatible", model="gpt-test", message="hi")
    emulators.clear()
    assert result.stop_reason is StopReason.END_TURN and result.text == "echo: hi"
    [notice] = [e for e in result.events if isinstance(e, Failover)]
    assert notice.code == "rate_limited" and notice.to_provider == "echo"


@pytest.mark.parametrize(
    ("fallbacks", "field"),
    [
        ([{"provider": "nope"}], "fallbacks[0].provider"),
        ([{"model": "x"}], "fallbacks[0].provider"),
        ([{"provider": "echo", "colour": "red"}], "fallbacks[0].colour"),
        ([{"provider": "echo"}, {"provider": "echo", "options": {"x": 1}}], "fallbacks[1].options"),
    ],
)
async def test_each_fallback_is_checked_against_its_backend_before_anything_starts(
    make_router: Callable[..., Router], fallbacks: list[dict[str, Any]], field: str
) -> None:
    router = make_router()
    with pytest.raises(InvalidRequestError) as caught:
        await router.complete(provider="echo", message="hi", fallbacks=fallbacks)
    assert caught.value.field == field
    assert await router.list_sessions() == [], "nothing was started"


@pytest.mark.parametrize("provider", NETWORKED)
async def test_a_run_crossing_its_budget_stops_before_its_next_model_call(
    setup: tuple[Router, str], emulators: Emulators, provider: str
) -> None:
    from copass_router import Budget

    router, engine = setup
    router.budgets.set(Budget(metric="tokens", limit=1, end_user_id="*"))
    mark = emulators.mark(provider)
    result = await router.complete(
        message='/loop lookup {"key": "b"}',
        end_user_id=f"budget-{provider}",
        max_tool_rounds=20,
        **_fields(provider, engine),
    )
    router.budgets.remove(Budget(metric="tokens", limit=1, end_user_id="*"))
    assert result.stop_reason is StopReason.BUDGET, result.errors
    rows = await router.usage(end_user_id=f"budget-{provider}")
    assert sum(r.calls for r in rows) == 1, "one model call, then the budget stopped the turn"
    # A chat API (and a Gemini interaction) reports a call's usage before its tool calls: the
    # turn ends before the tools run. Managed Agents may report it after them (the crossing
    # call's tool then runs, and the turn ends at the next call's tool use); a deployed agent's
    # tool call arrives by callback.
    most = 0 if provider in ("openai-compatible", "gemini-agents") else 1
    assert len(emulators.lookups) <= most, (provider, emulators.lookups)
    assert emulators.received_since(provider, mark)
    [turn] = await router.transcript(result.session_id, f"budget-{provider}")
    assert turn.stop_reason is StopReason.BUDGET


SCHEMA = {
    "type": "object",
    "properties": {"parcel": {"type": "string"}, "late": {"type": "boolean"}},
    "required": ["parcel", "late"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("openai-compatible", "anthropic"),  # native response_format -> stated in the prompt
        ("anthropic", "gemini-agents"),  # stated in the prompt -> native response_format
        ("gemini-agents", "openai-compatible"),  # one native mode -> another
    ],
)
async def test_structured_output_survives_a_failover_to_another_mode(
    setup: tuple[Router, str], via: Via, emulators: Emulators, first: str, second: str
) -> None:
    _, engine = setup
    # A first turn makes the provider's resources (agents...), so the faults hit the turn.
    warm = await via.run(message="hello", output_schema=SCHEMA, **_fields(first, engine))
    assert warm.output == {"parcel": "echo: hello", "late": True}
    emulators.of(first).faults.fail_next(503, count=2)
    mark = emulators.mark(second)
    result = await via.run(
        message="PX-9",
        output_schema=SCHEMA,
        fallbacks=[_fields(second, engine)],
        **_fields(first, engine),
    )
    emulators.clear()
    assert result.stop_reason is StopReason.END_TURN, result.errors
    assert [e.to_provider for e in result.events if isinstance(e, Failover)] == [second]
    assert result.output == {"parcel": "echo: PX-9", "late": True}
    sent = emulators.received_since(second, mark)
    native = second != "anthropic"
    assert ("response_format" in sent) is native
    assert ("<output-schema>" in sent) is not native
