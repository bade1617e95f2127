"""The console in a real browser: every page against real sessions from several providers, a
live run followed and cancelled, the charts checked against the ledger, a hostile transcript
shown as text."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from .conftest import ACME_KEY, HOSTILE, Deployment, screenshot, signed_in

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_sessions_are_searchable_and_transcripts_read_as_conversations(
    deployment: Deployment, browser: Any, tmp_path: Path
) -> None:
    page = await signed_in(browser, deployment.base)
    rows = page.locator("#sessions tbody tr[data-session]")
    listed_ids = {await r.get_attribute("data-session") for r in await rows.all()}
    assert listed_ids >= set(deployment.sessions.values())
    listed = await page.locator("#sessions").inner_text()
    for provider in ("anthropic", "openai", "google", "echo"):
        assert provider in listed
    assert "/tool lookup" in listed  # the first message
    await screenshot(page, "sessions", tmp_path)

    await page.select_option("select[name=provider]", "google")
    await page.click("form.filters button[type=submit]")
    await page.wait_for_url("**provider=google**")
    assert await rows.count() == 1
    assert await rows.first.get_attribute("data-session") == deployment.sessions["google"]

    await page.goto(f"{deployment.base}/console/sessions?tenant=acme")
    ids = {await r.get_attribute("data-session") for r in await rows.all()}
    assert {deployment.sessions["switch"], deployment.sessions["hostile"]} <= ids
    assert not ids & {deployment.sessions["google"], deployment.sessions["failed"]}
    await page.goto(
        f"{deployment.base}/console/sessions?tenant=globex&end_user=bob&provider=openai"
    )
    assert [await r.get_attribute("data-session") for r in await rows.all()] == [
        deployment.sessions["failed"]
    ]
    await page.goto(f"{deployment.base}/console/sessions?since=2001-01-01&until=2001-01-31")
    assert await rows.count() == 0

    # The session that moved from Anthropic to OpenAI, as a conversation.
    await page.goto(f"{deployment.base}/console/sessions?tenant=acme&end_user=alice")
    await page.click(f"tr[data-session='{deployment.sessions['switch']}'] a")
    await page.wait_for_selector("#transcript")
    turns = page.locator("#transcript section.turn")
    assert [await t.get_attribute("data-provider") for t in await turns.all()] == [
        "anthropic",
        "openai",
    ]
    text = await page.locator("#transcript").inner_text()
    assert "switched provider: anthropic → openai" in text
    assert "claude-haiku-4-5" in text and "gpt-4o-mini" in text
    assert "tool call · lookup" in text and '"key": "a1"' in text
    assert "tool result · lookup" in text and "value-a1" in text
    assert "tool results: lookup -> value-a1" in text  # the assistant's reply
    await screenshot(page, "session", tmp_path)

    # A turn that failed over says so.
    await page.goto(f"{deployment.base}/console/sessions?tenant=globex&end_user=dave")
    await page.click("#sessions tbody tr[data-session] a")
    await page.wait_for_selector("#transcript")
    moved = await page.locator("#transcript").inner_text()
    assert "failed over from anthropic/claude-haiku-4-5 to openai/gpt-4o-mini (overloaded)" in moved
    assert await page.locator("#transcript section.turn").get_attribute("data-provider") == (
        "openai"
    )

    # A failed turn shows its error.
    await page.goto(
        f"{deployment.base}/console/sessions?provider=openai&end_user=bob&tenant=globex"
    )
    await page.click("#sessions tbody tr[data-session] a")
    await page.wait_for_selector("#transcript")
    failed = await page.locator("#transcript").inner_text()
    assert "failed" in failed and "the provider broke" in failed


async def test_a_hostile_transcript_renders_as_text(
    deployment: Deployment, browser: Any, tmp_path: Path
) -> None:
    page = await signed_in(browser, deployment.base)
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text))
    await page.goto(f"{deployment.base}/console/sessions?tenant=acme&end_user=mallory")
    script = "<script>window.__pwned = 1</script>"
    assert script in await page.locator("#sessions").inner_text()  # the first message, as text
    await page.click("#sessions tbody tr[data-session] a")
    await page.wait_for_selector("#transcript")
    transcript = page.locator("#transcript")
    shown = await transcript.inner_text()
    assert f"value-{HOSTILE}" in shown  # the tool's result, as text
    assert shown.count(script) >= 4  # the message, the arguments, the result, the reply
    assert await transcript.locator("script").count() == 0
    assert await transcript.locator("img").count() == 0
    assert await page.evaluate("typeof window.__pwned") == "undefined"
    await page.wait_for_timeout(200)
    assert await page.evaluate("typeof window.__pwned") == "undefined"
    assert not [v for v in violations if "Content Security Policy" in v]


async def test_a_live_run_is_followed_and_cancelled(
    deployment: Deployment, browser: Any, tmp_path: Path
) -> None:
    page = await signed_in(browser, deployment.base)
    await page.goto(f"{deployment.base}/console/runs")
    assert "Nothing is running." in await page.locator("#runs").inner_text()
    slow = asyncio.create_task(
        deployment.run(
            ACME_KEY,
            provider="echo",
            end_user_id="carol",
            message="/slow 0.4 " + " ".join(f"word{i}" for i in range(60)),
        )
    )
    try:
        # The list refreshes itself: the run appears without a reload.
        link = page.locator("#runs-body tr[data-run] a")
        await link.wait_for(timeout=10_000)
        row = await page.locator("#runs-body tr[data-run]").inner_text()
        assert "echo" in row and "acme" in row and "carol" in row
        await screenshot(page, "runs", tmp_path)
        await link.click()
        await page.wait_for_selector("#events li[data-type=text_delta]", timeout=10_000)
        assert await page.locator("#events li[data-type=run_started]").count() == 1
        deltas = page.locator("#events li[data-type=text_delta]")
        before = await deltas.count()
        # Events keep arriving as they stream (the page's policy forbids evaluating strings).
        await deltas.nth(before).wait_for(timeout=10_000)
        assert "word0" in await page.locator("#run-text-body").inner_text()
        assert "/console/sessions/ses_" in (
            await page.locator("#run-meta a").get_attribute("href") or ""
        )
        await screenshot(page, "run", tmp_path)
        await page.click("#cancel-form button")
        await page.wait_for_selector("#events li[data-type=run_finished]", timeout=15_000)
        assert "cancelled" in await page.locator("#run-status").inner_text()
        answer = await asyncio.wait_for(slow, 15)
    finally:
        slow.cancel()
    assert '"stop_reason":"cancelled"' in answer.text
    assert "word59" not in answer.text
    await page.goto(f"{deployment.base}/console/runs")
    await page.wait_for_selector("#runs-body tr.empty", timeout=10_000)


async def test_the_usage_charts_carry_the_ledgers_numbers(
    deployment: Deployment, browser: Any, tmp_path: Path
) -> None:
    page = await signed_in(browser, deployment.base)
    rows = await deployment.router.usage()
    assert {r.provider for r in rows} >= {"anthropic", "openai", "google"}
    for group, metric in (("provider", "cost_usd"), ("model", "tokens"), ("tenant", "tokens")):
        await page.goto(f"{deployment.base}/console/usage?group={group}&metric={metric}")
        expected: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for r in rows:
            value = r.cost_usd if metric == "cost_usd" else Decimal(r.tokens)
            expected[(r.day.isoformat(), str(getattr(r, group)))] += value
        drawn = {}
        for bar in await page.locator("#usage-chart rect.bar").all():
            key = (await bar.get_attribute("data-day"), await bar.get_attribute("data-series"))
            drawn[key] = Decimal(await bar.get_attribute("data-value") or "")
        assert drawn == {k: v for k, v in expected.items() if v}
        for r_key in {k[1] for k in expected}:
            total = page.locator(f"#usage-totals tr[data-key='{r_key}']")
            calls = sum(r.calls for r in rows if str(getattr(r, group)) == r_key)
            assert str(calls) == (await total.locator("td").nth(1).inner_text())
            cost = sum((r.cost_usd for r in rows if str(getattr(r, group)) == r_key), Decimal(0))
            assert Decimal(await total.locator("td.cost").inner_text()) == cost
        if group == "provider":
            await screenshot(page, "usage", tmp_path)
    budgets = await page.locator("#budgets").inner_text()
    acme_cost = sum((r.cost_usd for r in rows if r.tenant == "acme"), Decimal(0))
    assert acme_cost > 0
    assert "tenant acme: 1 USD per day" in budgets and str(acme_cost) in budgets
    assert "tenant globex, end user bob: 100000 tokens per day" in budgets


async def test_the_health_page_shows_workers_dependencies_and_plugins(
    deployment: Deployment, browser: Any, tmp_path: Path
) -> None:
    page = await signed_in(browser, deployment.base)
    await page.goto(f"{deployment.base}/console/health")
    for check in ("store", "coordinator", "run log", "worker board"):
        state = await page.locator(f"#checks tr[data-check='{check}']").inner_text()
        assert "reachable" in state and "unreachable" not in state
    assert await page.locator("#workers tbody tr").count() == 1
    providers = await page.locator("#providers").inner_text()
    for name in ("anthropic", "google", "openai", "echo"):
        assert name in providers
    plugins = await page.locator("#plugins").inner_text()
    assert "failed" in plugins and "RuntimeError: this plugin is broken on purpose" in plugins
    assert "copass_router_anthropic" in plugins and "loaded" in plugins
    await screenshot(page, "health", tmp_path)
