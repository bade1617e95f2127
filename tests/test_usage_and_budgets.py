"""Prices, the usage ledger and budgets, through the public API and hooks only.

Every test taking ``make_router`` runs twice: on a SQLite store (the ledger in its file) and on
a PostgreSQL store (the ledger in its schema, a fresh one per test), the ledger the router picks
by itself from its store.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest

from copass_router import (
    Budget,
    BudgetExceededError,
    Event,
    PriceBook,
    PriceRegistrar,
    Router,
    RunFinished,
    StopReason,
    ToolContext,
    Usage,
    hookimpl,
    tool,
)

# The store suite's fixture: a fresh SQLite file, or a fresh PostgreSQL schema (both tested).
from .services import fresh_schema
from .store.conftest import store_url_fixture  # noqa: F401 - a fixture

ECHO_PRICE = {"input": "2", "output": "10", "cache_read": "0.5", "cache_write": "2.5"}


class EchoPrices:
    """A host's own prices for the offline ``echo`` provider."""

    @staticmethod
    @hookimpl
    def copass_router_register_prices(register: PriceRegistrar) -> None:
        register("echo", "echo-1", **ECHO_PRICE, effective="2020-01-01", source="test")


class UsageSeen:
    """Event middleware keeping every Usage event the consumer would see."""

    def __init__(self) -> None:
        self.calls: list[Usage] = []

    @hookimpl
    def copass_router_process_event(self, event: Event, context: ToolContext) -> Event:
        if isinstance(event, Usage):
            self.calls.append(event)
        return event


@tool
def lookup(key: str) -> str:
    """Look a key up."""
    return f"value-{key}"


@pytest.fixture
async def make_router(store_url: str) -> AsyncIterator[Callable[..., Router]]:
    """Isolated routers on one store per test (so routers of a test share its ledger)."""
    made: list[Router] = []

    def factory(**kwargs: Any) -> Router:
        kwargs.setdefault("load_entry_points", False)
        kwargs.setdefault("store", store_url)
        kwargs.setdefault("environ", {})
        made.append(Router(**kwargs))
        return made[-1]

    yield factory
    for router in made:
        await router.aclose()


def _cost(usage: Usage) -> Decimal:
    return (usage.input_tokens * Decimal(2) + usage.output_tokens * Decimal(10)) / 1_000_000


async def test_each_model_call_is_priced_and_the_run_sums_its_cost(
    make_router: Callable[..., Router],
) -> None:
    router = make_router(plugins=[EchoPrices], tools=[lookup])
    result = await router.complete(provider="echo", message='/tool lookup {"key": "a"}')
    usages = [e for e in result.events if isinstance(e, Usage)]
    assert len(usages) == 2  # one per model call: the tool call, then the answer
    assert [u.cost_usd for u in usages] == [_cost(u) for u in usages]
    finished = result.events[-1]
    assert isinstance(finished, RunFinished)
    assert finished.cost_usd == sum(_cost(u) for u in usages) and finished.cost_usd > 0
    assert (finished.provider, finished.model) == ("echo", "echo-1")


async def test_a_model_without_a_price_has_no_cost(make_router: Callable[..., Router]) -> None:
    router = make_router(plugins=[EchoPrices])
    result = await router.complete(provider="echo", model="echo-unpriced", message="hi")
    assert [e.cost_usd for e in result.events if isinstance(e, Usage)] == [None]
    assert result.events[-1].cost_usd is None  # type: ignore[attr-defined]
    [row] = await router.usage()
    assert row.unpriced_calls == 1 and row.cost_usd == 0 and row.tokens > 0


def test_the_price_in_effect_on_the_call_s_day_applies() -> None:
    book = PriceBook()
    common = {"cache_read": 0, "cache_write": 0, "source": "t"}
    book.register("p", "m", input="1", output="1", effective="2025-01-01", **common)
    book.register("p", "m", input="3", output="3", effective="2025-06-01", **common)
    assert book.price("p", "m", dt.date(2024, 12, 31)) is None
    assert book.price("p", "m", dt.date(2025, 5, 31)).input == 1  # type: ignore[union-attr]
    assert book.price("p", "m", dt.date(2025, 6, 1)).input == 3  # type: ignore[union-attr]


def test_every_provider_plugin_registers_prices_with_their_source() -> None:
    import copass_router_anthropic
    import copass_router_google
    import copass_router_openai

    router = Router(
        store=":memory:",
        environ={},
        load_entry_points=False,
        plugins=[copass_router_anthropic, copass_router_google, copass_router_openai],
    )
    router.plugins.load()
    prices = router.plugins.prices.all()
    assert {p.provider for p in prices} == {
        "anthropic",
        "gemini-agents",
        "google",
        "openai",
        "openai-agents",
    }
    assert all(p.source and p.input > 0 and p.output > 0 for p in prices)


async def test_the_ledger_keeps_usage_per_tenant_end_user_provider_model_and_day(
    make_router: Callable[..., Router],
) -> None:
    router = make_router(plugins=[EchoPrices])
    for user, tenant in (("u1", "acme"), ("u1", "acme"), ("u2", "acme"), ("u1", "globex")):
        await router.complete(
            provider="echo", message="hello there", end_user_id=user, metadata={"tenant": tenant}
        )
    await router.complete(provider="echo", model="echo-2", message="x", end_user_id="u1")
    rows = await router.usage()
    keys = [(r.tenant, r.end_user_id, r.provider, r.model, r.calls) for r in rows]
    assert keys == [
        ("acme", "u1", "echo", "echo-1", 2),
        ("acme", "u2", "echo", "echo-1", 1),
        ("default", "u1", "echo", "echo-2", 1),
        ("globex", "u1", "echo", "echo-1", 1),
    ]
    assert all(r.day == dt.datetime.now(dt.UTC).date() for r in rows)
    [mine] = await router.usage(tenant="acme", end_user_id="u2")
    assert mine.cost_usd == Decimal(mine.input_tokens * 2 + mine.output_tokens * 10) / 10**6


def test_the_usage_command_prints_a_table_and_json(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from copass_router.cli._main import main

    monkeypatch.setenv("COPASS_ROUTER_STORE", store_url)
    assert main(["run", "--end-user", "ana", "hello"], out=io.StringIO()) == 0
    out = io.StringIO()
    assert main(["usage"], out=out) == 0
    header, row, total = out.getvalue().splitlines()
    assert header.split() == [
        "day", "tenant", "end_user_id", "provider", "model", "calls", "tokens", "cost_usd"
    ]  # fmt: skip
    assert row.split()[1:6] == ["default", "ana", "echo", "echo-1", "1"]
    assert total.startswith("total")
    out = io.StringIO()
    assert main(["usage", "--json", "--end-user", "ana"], out=out) == 0
    [line] = out.getvalue().splitlines()
    data = json.loads(line)
    assert data["end_user_id"] == "ana" and data["calls"] == 1 and data["cost_usd"] == "0"
    out = io.StringIO()
    assert main(["usage", "--end-user", "nobody"], out=out) == 0
    assert out.getvalue() == "no usage recorded\n"


async def test_a_run_over_budget_is_refused_before_it_starts(
    make_router: Callable[..., Router],
) -> None:
    router = make_router(
        budgets=[Budget(metric="tokens", limit=5, period="day", tenant="*", end_user_id="*")]
    )
    await router.complete(provider="echo", message="one two three four five six", end_user_id="a")
    with pytest.raises(BudgetExceededError) as caught:
        await router.complete(provider="echo", message="again", end_user_id="a")
    error = caught.value
    assert error.limit == "tenant default, end user a: 5 tokens per day"
    tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    assert error.resets_at == f"{tomorrow.isoformat()}T00:00:00+00:00"
    assert "resets at" in str(error) and error.code == "budget_exceeded"
    assert len(await router.list_sessions("a")) == 1, "the refused run started nothing"
    other = await router.complete(provider="echo", message="hi", end_user_id="b")
    assert other.stop_reason is StopReason.END_TURN, "each end user has their own budget"


async def test_a_cost_budget_for_the_whole_tenant_counts_every_end_user(
    make_router: Callable[..., Router],
) -> None:
    router = make_router(plugins=[EchoPrices])
    router.budgets.set(Budget(metric="cost_usd", limit="0.00001", period="month", tenant="acme"))
    meta = {"tenant": "acme"}
    await router.complete(provider="echo", message="a b c", end_user_id="x", metadata=meta)
    with pytest.raises(BudgetExceededError) as caught:
        await router.complete(provider="echo", message="hi", end_user_id="y", metadata=meta)
    assert caught.value.limit == "tenant acme: 0.00001 USD per month"
    await router.complete(provider="echo", message="hi", end_user_id="y")  # another tenant


async def test_a_run_crossing_its_budget_stops_before_its_next_model_call(
    make_router: Callable[..., Router],
) -> None:
    seen = UsageSeen()
    router = make_router(plugins=[seen], tools=[lookup])
    router.budgets.set(Budget(metric="tokens", limit=40, end_user_id="*"))
    result = await router.complete(
        provider="echo", message='/loop lookup {"key": "k"}', max_tool_rounds=50
    )
    assert result.stop_reason is StopReason.BUDGET
    spent = sum(u.input_tokens + u.output_tokens for u in seen.calls)
    before_last = spent - (seen.calls[-1].input_tokens + seen.calls[-1].output_tokens)
    assert before_last < 40 <= spent, "it stopped at the call that crossed the limit"
    [turn] = await router.transcript(result.session_id, "local")
    assert turn.stop_reason is StopReason.BUDGET


async def test_100_concurrent_runs_at_the_limit_overspend_by_at_most_one_call_each(
    make_router: Callable[..., Router],
) -> None:
    seen = UsageSeen()
    router = make_router(plugins=[seen], tools=[lookup])
    limit = 2_000
    router.budgets.set(Budget(metric="tokens", limit=limit, tenant="acme"))

    async def one(i: int) -> StopReason | None:
        try:
            result = await router.complete(
                provider="echo",
                message='/loop lookup {"key": "k"}',
                end_user_id=f"u{i}",
                metadata={"tenant": "acme"},
                max_tool_rounds=100,
            )
        except BudgetExceededError:
            return None
        return result.stop_reason

    outcomes = await asyncio.gather(*(one(i) for i in range(100)))
    spent = sum(u.input_tokens + u.output_tokens for u in seen.calls)
    largest = max(u.input_tokens + u.output_tokens for u in seen.calls)
    assert spent >= limit
    assert spent - limit <= 100 * largest, (spent, largest)
    assert set(outcomes) <= {StopReason.BUDGET, None}
    assert await one(100) is None, "a run after the limit is refused"


@pytest.mark.parametrize(
    ("loop", "words"),
    [(False, 30), (False, 1000), (True, 30)],
    ids=["one-call-runs", "2000-token-calls", "tool-looping-runs"],
)
async def test_40_concurrent_runs_on_a_300_token_budget_overspend_at_most_one_call(
    make_router: Callable[..., Router], loop: bool, words: int
) -> None:
    """Each call reserves its estimate before it is made, in the ledger's database: once the
    budget is nearly spent, calls go one at a time, so all runs together overspend by at most
    the one call let through last (not one call per run in flight). Two routers on one store
    (as two workers) share the reservations."""
    seen = UsageSeen()
    limit = 300
    budget = Budget(metric="tokens", limit=limit, tenant="acme")
    routers = [make_router(plugins=[seen], tools=[lookup], budgets=[budget]) for _ in range(2)]
    text = " ".join(f"word{i}" for i in range(words))
    message = f'/loop lookup {{"key": "{text}"}}' if loop else text

    async def one(i: int) -> StopReason | None:
        try:
            result = await routers[i % 2].complete(
                provider="echo",
                message=message,
                end_user_id=f"u{i}",
                metadata={"tenant": "acme"},
                max_tool_rounds=100,
            )
        except BudgetExceededError:
            return None
        return result.stop_reason

    outcomes = await asyncio.gather(*(one(i) for i in range(40)))
    spent = sum(u.input_tokens + u.output_tokens for u in seen.calls)
    largest = max(u.input_tokens + u.output_tokens for u in seen.calls)
    ledger = sum(row.tokens for row in await routers[0].usage(tenant="acme"))
    assert ledger == spent, "every call is in the ledger"
    assert limit <= spent <= limit + largest, (spent, largest, len(seen.calls))
    finished = {StopReason.BUDGET} if loop else {StopReason.END_TURN}
    assert set(outcomes) <= {*finished, None} and None in outcomes
    assert await one(40) is None, "a run after the limit is refused"


async def test_a_host_s_own_ledger_gets_the_reservations_in_process() -> None:
    """A ledger without reservations of its own (a host's billing database): the router holds
    them in its process, and the bound holds there."""
    ledger = SlowLedger()
    budget = Budget(metric="tokens", limit=300, tenant="acme")
    text = " ".join(f"word{i}" for i in range(30))
    async with Router(store=":memory:", environ={}, ledger=ledger, budgets=[budget]) as router:

        async def one(i: int) -> int | None:
            try:
                result = await router.complete(
                    provider="echo", message=text, end_user_id=f"u{i}", metadata={"tenant": "acme"}
                )
            except BudgetExceededError:
                return None
            return result.usage.input_tokens + result.usage.output_tokens

        made = [t for t in await asyncio.gather(*(one(i) for i in range(40))) if t is not None]
        spent = sum(r.tokens for r in await router.usage(tenant="acme"))
    assert spent == sum(made)
    assert 300 <= spent <= 300 + max(made), (spent, made)


async def test_a_call_s_reservation_is_settled_with_its_real_usage(
    make_router: Callable[..., Router],
) -> None:
    """Each call's estimate (its 4,096-token default output cap alone is over this 300-token
    budget) is held only while it runs: settled with the real usage, the budget is free
    again for the next run, and nothing stays reserved."""
    router = make_router()
    router.budgets.set(Budget(metric="tokens", limit=300, tenant="acme"))
    meta = {"tenant": "acme"}
    for i in range(5):
        result = await router.complete(
            provider="echo", message="hi there", end_user_id=f"u{i}", metadata=meta
        )
        assert result.stop_reason is StopReason.END_TURN
    assert sum(r.calls for r in await router.usage(tenant="acme")) == 5
    took, [standing] = await router.meter.gate._take(
        router.meter.gate.estimate(("acme", "u9"), "echo", "echo-1", 1, 1),
        [(None, dt.datetime.now(dt.UTC).date())],
        lambda standings: False,
    )
    assert not took and standing.reserved.tokens == 0, "every reservation was settled"


async def test_a_reservation_whose_call_never_settles_expires(
    make_router: Callable[..., Router],
) -> None:
    """A worker that dies mid-call leaves its reservation: it holds the budget until its time
    is up, then no more."""
    from copass_router.accounting._reservations import Reservation

    ledger: Any = make_router().ledger
    today = dt.datetime.now(dt.UTC).date()
    scopes = [(None, today), ("u", today)]
    seen: list[Any] = []

    def look(standings: Any) -> bool:
        seen.append([s.reserved.tokens for s in standings])
        return True

    await ledger.reserve(Reservation("acme", "u", 100, ttl=0.0), scopes, look)
    await ledger.reserve(Reservation("acme", "v", 40), scopes, look)
    await ledger.reserve(Reservation("acme", "u", 7), scopes, look)
    assert seen == [[0, 0], [0, 0], [40, 0]], "the expired hold counts for nothing"


async def test_the_reserved_output_comes_from_the_run_s_cap_or_configuration(
    make_router: Callable[..., Router],
) -> None:
    from copass_router import ConfigurationError

    router = make_router(environ={"COPASS_ROUTER_RESERVE_OUTPUT_TOKENS": "64"})
    assert router.meter.gate.default_output == 64
    gate = router.meter.gate
    held = gate.estimate(("t", "u"), "echo", "echo-1", sent_chars=40, max_output_tokens=None)
    assert held.tokens == 10 + 64
    capped = gate.estimate(("t", "u"), "echo", "echo-1", sent_chars=40, max_output_tokens=7)
    assert capped.tokens == 10 + 7
    with pytest.raises(ConfigurationError, match="COPASS_ROUTER_RESERVE_OUTPUT_TOKENS"):
        make_router(environ={"COPASS_ROUTER_RESERVE_OUTPUT_TOKENS": "many"})


async def test_routers_sharing_a_store_share_its_ledger_and_budgets(
    make_router: Callable[..., Router],
) -> None:
    budget = Budget(metric="tokens", limit=5, tenant="acme")
    one, two = make_router(budgets=[budget]), make_router(budgets=[budget])
    meta = {"tenant": "acme"}
    await one.complete(provider="echo", message="a b c d e f", end_user_id="x", metadata=meta)
    with pytest.raises(BudgetExceededError):
        await two.complete(provider="echo", message="hi", end_user_id="y", metadata=meta)
    assert [(r.end_user_id, r.calls) for r in await two.usage(tenant="acme")] == [("x", 1)]


async def test_concurrent_writers_lose_no_call(make_router: Callable[..., Router]) -> None:
    """The upsert adds on the server: 2 routers x 20 concurrent runs, one row, 40 calls."""
    routers = [make_router(plugins=[EchoPrices]), make_router(plugins=[EchoPrices])]
    results = await asyncio.gather(
        *(
            routers[i % 2].complete(provider="echo", message="same row", end_user_id="u")
            for i in range(40)
        )
    )
    [row] = await routers[0].usage()
    assert row.calls == 40
    assert row.tokens == sum(r.usage.input_tokens + r.usage.output_tokens for r in results)
    assert row.cost_usd == sum(r.events[-1].cost_usd for r in results)  # type: ignore[attr-defined]


def _budget_rows(data: list[dict[str, Any]]) -> list[Budget]:
    return [Budget.from_dict(item) for item in data]


def test_budgets_come_from_configuration() -> None:
    env = {"COPASS_ROUTER_BUDGETS": json.dumps([{"metric": "tokens", "limit": 10}])}
    router = Router(store=":memory:", environ=env, load_entry_points=False)
    assert list(router.budgets) == _budget_rows([{"metric": "tokens", "limit": 10}])
    from copass_router import ConfigurationError

    with pytest.raises(ConfigurationError, match="COPASS_ROUTER_BUDGETS"):
        Router(store=":memory:", environ={"COPASS_ROUTER_BUDGETS": "[{}]"})


async def test_a_ledger_that_cannot_answer_the_budget_check_refuses_the_run_retryably() -> None:
    from copass_router import RouterError

    router = Router(
        store=":memory:",
        environ={},
        load_entry_points=False,
        ledger="postgresql://postgres@127.0.0.1:9/nowhere",  # nothing listens on port 9
        budgets=[Budget(metric="tokens", limit=10)],
    )
    async with router:
        with pytest.raises(RouterError) as caught:
            await router.complete(provider="echo", message="hi")
    assert caught.value.code == "overloaded" and caught.value.retryable
    assert "budget" in str(caught.value)
    assert await router.list_sessions("local") == [], "nothing started"


async def test_router_ledger_overrides_the_ledger_beside_the_store() -> None:
    from copass_router import SQLiteUsageLedger

    async with fresh_schema() as url:
        on_postgres = Router(store=url, environ={}, load_entry_points=False, ledger=":memory:")
        assert isinstance(on_postgres.ledger, SQLiteUsageLedger)
        await on_postgres.aclose()
        # A ledger of its own on PostgreSQL (its own pool, closed with the router).
        router = Router(store=":memory:", environ={}, load_entry_points=False, ledger=url)
        async with router:
            await router.complete(provider="echo", message="hi", end_user_id="ana")
            assert [r.end_user_id for r in await router.usage()] == ["ana"]
        reader = Router(store=url, environ={}, load_entry_points=False)
        async with reader:
            assert [(r.end_user_id, r.calls) for r in await reader.usage()] == [("ana", 1)]


class SlowLedger:
    """A host's ledger whose writes take a while (e.g. a billing database far away)."""

    def __init__(self) -> None:
        from copass_router.store._usage_sqlite import SQLiteUsageLedger

        self.inner = SQLiteUsageLedger(":memory:")
        self.recorded = 0

    async def record(self, entry: Any) -> None:
        await asyncio.sleep(0.05)
        await self.inner.record(entry)
        self.recorded += 1

    async def query(self, **filters: Any) -> Any:
        return await self.inner.query(**filters)

    async def spend(self, *args: Any) -> Any:
        return await self.inner.spend(*args)

    async def close(self) -> None:
        await self.inner.close()


async def test_a_run_s_usage_is_in_the_ledger_before_its_end_is_told() -> None:
    # Without a budget the ledger write runs beside the stream; the run still waits for it
    # before RunFinished, so whoever reads the run's end reads its usage too.
    ledger = SlowLedger()
    async with Router(
        store=":memory:", environ={}, plugins=[EchoPrices], tools=[lookup], ledger=ledger
    ) as router:
        async for event in router.run(provider="echo", message='/tool lookup {"key": "a"}'):
            if isinstance(event, RunFinished):
                assert ledger.recorded == 2  # both model calls
        rows = await router.usage()
        assert [r.calls for r in rows] == [2]


async def test_beside_a_sqlite_store_the_ledger_uses_the_store_s_thread_and_file(
    tmp_path: Any,
) -> None:
    """No second thread to wake and no second connection per model call; the rows are in the
    store's file, where another router on that file reads them, and closing closes both."""
    import sqlite3
    import threading

    def threads(name: str) -> int:  # other tests' routers may still be closing theirs
        return [t.name for t in threading.enumerate()].count(name)

    path = tmp_path / "router.db"
    usage_threads = threads("copass-usage")
    router = Router(store=f"sqlite:///{path}", environ={}, load_entry_points=False)
    await router.complete(provider="echo", message="a b c", end_user_id="u")
    assert threads("copass-store") >= 1 and threads("copass-usage") <= usage_threads
    await router.aclose()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT end_user_id, calls FROM usage_ledger").fetchall() == [("u", 1)]
    async with Router(store=f"sqlite:///{path}", environ={}, load_entry_points=False) as again:
        await again.complete(provider="echo", message="d", end_user_id="u")
        assert [(r.end_user_id, r.calls) for r in await again.usage()] == [("u", 2)]


async def test_a_ledger_write_that_fails_refuses_the_account_s_next_runs_until_it_is_recorded(
    tmp_path: Any,
) -> None:
    import sqlite3

    from copass_router import RouterError

    path = tmp_path / "router.db"

    def rename(old: str, new: str) -> None:
        with sqlite3.connect(path) as conn:
            conn.execute(f"ALTER TABLE {old} RENAME TO {new}")

    async with Router(store=f"sqlite:///{path}", environ={}, load_entry_points=False) as router:
        await router.complete(provider="echo", message="one", end_user_id="u")
        await asyncio.to_thread(rename, "usage_ledger", "usage_off")  # the ledger fails
        await router.complete(provider="echo", message="two", end_user_id="u")
        with pytest.raises(RouterError) as refused:  # fail closed: no run goes unmetered
            await router.complete(provider="echo", message="three", end_user_id="u")
        assert refused.value.retryable
        other = await router.complete(provider="echo", message="other", end_user_id="v")
        assert other.stop_reason.value == "end_turn"  # only that account waits
        await asyncio.to_thread(rename, "usage_off", "usage_ledger")  # back
        await router.complete(provider="echo", message="four", end_user_id="u")
        calls = {r.end_user_id: r.calls for r in await router.usage()}
    assert calls["u"] == 3  # one, two (recorded late, not lost) and four


class HeldUpLedger:
    """A ledger that holds reservations (in SQLite) whose ``reserve`` is held up until the test
    lets it go; it finishes either way, as a database transaction does when its caller leaves."""

    def __init__(self) -> None:
        from copass_router.store._usage_sqlite import SQLiteUsageLedger

        self.inner = SQLiteUsageLedger(":memory:")
        self.entered = asyncio.Event()
        self.go = asyncio.Event()

    async def reserve(self, *args: Any) -> Any:
        async def work() -> Any:
            await self.go.wait()
            return await self.inner.reserve(*args)

        self.entered.set()
        return await asyncio.shield(asyncio.ensure_future(work()))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_a_run_cancelled_while_its_reservation_is_taken_leaves_nothing_held() -> None:
    ledger = HeldUpLedger()
    budget = Budget(metric="tokens", limit=300, tenant="acme")
    async with Router(store=":memory:", environ={}, ledger=ledger, budgets=[budget]) as router:
        run = asyncio.ensure_future(
            router.complete(provider="echo", message="hi", metadata={"tenant": "acme"})
        )
        await ledger.entered.wait()
        run.cancel()
        ledger.go.set()
        [outcome] = await asyncio.gather(run, return_exceptions=True)
        assert isinstance(outcome, asyncio.CancelledError)
        today = dt.datetime.now(dt.UTC).date()
        from copass_router.accounting._reservations import Reservation

        seen: list[int] = []
        await ledger.inner.reserve(
            Reservation("acme", "x", 1),
            [(None, today)],
            lambda s: seen.append(s[0].reserved.tokens),
        )
        assert seen == [0], "the reservation taken as the run was cancelled was released"
