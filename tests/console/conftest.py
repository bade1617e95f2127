"""The operator console's tests: a hosted router with real sessions from several providers
(their emulators), and a real browser (Debian's chromium driven by Playwright).

Without /usr/bin/chromium (``make setup`` installs it when run as root) the browser tests are
skipped with one line, and fail under CI (CI=true), where the browser must be there.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import attrs
import copass_router_anthropic
import copass_router_google
import copass_router_openai
import httpx
import pytest
import pytest_asyncio
from copass_router_anthropic.emulator import running_emulator as anthropic_emulator
from copass_router_google.emulator import running_emulator as google_emulator
from copass_router_openai.emulator import running_emulator as openai_emulator

from copass_router import Budget, RetryPolicy, Router, hookimpl, tool
from copass_router.server import create_app, start_server
from copass_router.serving._dispatch_endpoint import DISPATCH_PATH

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADMIN_KEY = "console-admin-key-0123456789abcdef"
ACME_KEY = "acme-key-0123456789abcdef"
GLOBEX_KEY = "globex-key-0123456789abcdef"
ANTHROPIC_KEY = "sk-ant-api03-CONSOLE0123456789abcdef"
OPENAI_KEY = "sk-console-0123456789abcdef"
PROJECT = "console-project"
HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
#: Where the screenshots of docs/console.md are written, when this is set (see that page).
SCREENSHOTS_ENV = "COPASS_ROUTER_CONSOLE_SCREENSHOTS"


@tool
def lookup(key: str) -> str:
    """Look a key up."""
    return f"value-{key}"


class BrokenPlugin:
    """A plugin whose registration fails: the router goes on without it, and says why."""

    @staticmethod
    @hookimpl
    def copass_router_register_backends(register: Any) -> None:
        raise RuntimeError("this plugin is broken on purpose")


@attrs.define
class Deployment:
    """A hosted router on loopback with the console on, and the sessions it was given."""

    router: Router
    base: str
    engine: str
    anthropic: Any
    sessions: dict[str, str] = attrs.field(factory=dict)

    async def run(self, key: str, **fields: Any) -> httpx.Response:
        """One run through ``POST /v1/runs`` with a tenant's key (read to its end)."""
        async with httpx.AsyncClient(timeout=60) as http:
            return await http.post(
                f"{self.base}/v1/runs",
                json=fields,
                headers={"Authorization": f"Bearer {key}"},
            )


@pytest.fixture(scope="module")
def emulators() -> Iterator[tuple[Any, Any, Any]]:
    with (
        anthropic_emulator(api_key=ANTHROPIC_KEY) as anthropic,
        google_emulator() as google,
        openai_emulator(api_key=OPENAI_KEY) as openai,
    ):
        yield anthropic, google, openai


def _env(emulators: tuple[Any, Any, Any]) -> dict[str, str]:
    anthropic, google, openai = emulators
    return {
        "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
        "ANTHROPIC_BASE_URL": anthropic.base_url,
        "COPASS_ROUTER_GOOGLE_BASE_URL": google.base_url,
        "COPASS_ROUTER_GOOGLE_ACCESS_TOKEN": "emulator-token",
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "OPENAI_API_KEY": OPENAI_KEY,
        "OPENAI_BASE_URL": openai.base_url,
    }


async def _seed(d: Deployment) -> None:
    """Real sessions: a tool call on Anthropic then a switch to OpenAI, a Google session of
    another tenant, a failed turn, and a hostile transcript."""
    first = await d.run(
        ACME_KEY,
        provider="anthropic",
        model="claude-haiku-4-5",
        end_user_id="alice",
        message='/tool lookup {"key": "a1"}',
    )
    assert first.status_code == 200 and "run_finished" in first.text, first.text
    sid = first.headers["x-copass-session-id"]
    second = await d.run(
        ACME_KEY,
        provider="openai",
        model="gpt-4o-mini",
        end_user_id="alice",
        message="/recall",
        session_id=sid,
    )
    assert "run_finished" in second.text
    d.sessions["switch"] = sid
    google = await d.run(
        GLOBEX_KEY,
        provider="google",
        end_user_id="bob",
        reasoning_engine_id=d.engine,
        message='/tool lookup {"key": "g1"}',
    )
    assert '"stop_reason":"end_turn"' in google.text, google.text
    d.sessions["google"] = google.headers["x-copass-session-id"]
    failed = await d.run(
        GLOBEX_KEY,
        provider="openai",
        model="gpt-4o-mini",
        end_user_id="bob",
        message="/error server_error the provider broke",
    )
    assert '"stop_reason":"error"' in failed.text
    d.sessions["failed"] = failed.headers["x-copass-session-id"]
    d.anthropic.faults.fail_next(503, count=2)  # the retry fails too: the turn moves on
    moved = await d.run(
        GLOBEX_KEY,
        provider="anthropic",
        model="claude-haiku-4-5",
        end_user_id="dave",
        message="where does this turn end?",
        fallbacks=[{"provider": "openai", "model": "gpt-4o-mini"}],
    )
    assert '"type":"failover"' in moved.text and '"stop_reason":"end_turn"' in moved.text
    d.sessions["failover"] = moved.headers["x-copass-session-id"]
    hostile = await d.run(
        ACME_KEY,
        provider="echo",
        end_user_id="mallory",
        message=f"/tool lookup {json.dumps({'key': HOSTILE})}",
    )
    assert "run_finished" in hostile.text
    d.sessions["hostile"] = hostile.headers["x-copass-session-id"]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def deployment(emulators: tuple[Any, Any, Any]) -> AsyncIterator[Deployment]:
    """One deployment for a module's tests (seeding it drives three providers' SDKs)."""
    router = Router(
        load_entry_points=False,
        store=":memory:",
        plugins=[
            copass_router_anthropic,
            copass_router_google,
            copass_router_openai,
            BrokenPlugin(),
        ],
        environ=_env(emulators),
        tools=[lookup],
        retry_policy=RetryPolicy(max_retries=1, initial_delay=0.01, jitter=False),
        budgets=[
            Budget("cost_usd", "1", tenant="acme"),
            Budget("tokens", 100_000, tenant="*", end_user_id="*"),
        ],
    )
    app = create_app(
        router,
        api_keys=[f"acme:{ACME_KEY}", f"globex:{GLOBEX_KEY}"],
        admin_key=ADMIN_KEY,
        heartbeat=1.0,
    )
    server = await start_server(app)
    router.dispatch_url = server.base_url + DISPATCH_PATH
    engine = emulators[1].add_engine(
        display_name="console-agent", dispatch_url=router.dispatch_url, project=PROJECT
    )
    deployment = Deployment(router, server.base_url, engine, emulators[0])
    try:
        await _seed(deployment)
        yield deployment
    finally:
        await app.state.copass_router.drain(0)
        await server.aclose()
        await app.state.copass_console.board.aclose()
        await router.aclose()


def _browser_missing() -> str:
    if not os.path.exists(CHROMIUM):
        return f"no browser at {CHROMIUM} (make setup installs Debian's chromium when root)"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (make setup)"
    return ""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Any]:
    """Headless chromium (Debian's), driven by Playwright; no browser download."""
    why = _browser_missing()
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


async def signed_in(browser: Any, base: str) -> Any:
    """A page of a fresh browser context, signed in to the console with the admin key."""
    context = await browser.new_context(viewport={"width": 1280, "height": 860})
    page = await context.new_page()
    await page.goto(f"{base}/console/sessions")
    assert page.url.endswith("/console/login")
    await page.fill("input[name=admin_key]", ADMIN_KEY)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/console/sessions")
    return page


async def screenshot(page: Any, name: str, tmp_path: Path) -> None:
    """Keep a screenshot of the page (into docs/ when ``SCREENSHOTS_ENV`` names a folder)."""
    await page.screenshot(path=_screenshot_path(name, tmp_path), full_page=True)


def _screenshot_path(name: str, tmp_path: Path) -> str:
    folder = Path(os.environ.get(SCREENSHOTS_ENV) or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder / f"{name}.png")
