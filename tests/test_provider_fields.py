"""A provider's own run fields: declared by the provider, carried and checked by the core.

A third-party provider declares a required field; the core refuses a run without it before any
call, checks its type, hands it to the provider (and only to a provider that declares it),
carries it through failover, and reads it from keywords, hosted JSON (camelCase too), a
``RemoteRouter`` and the command line.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from copass_router import (
    AgentBackend,
    Event,
    InvalidRequestError,
    Message,
    ProviderError,
    RequestField,
    RequestOption,
    Router,
    RunFinished,
    Turn,
    hookimpl,
)
from copass_router.cli._parser import build_parser
from copass_router.cli._run import provider_fields
from copass_router.client._remote_router import RemoteRouter
from copass_router.provider_kit._retries import RetryPolicy
from copass_router.server import create_app, start_server

FIELDS = (
    RequestField("deployment_id", required=True, help="the deployment that answers"),
    RequestField("shard", type=int),
)


class DeploymentBackend(AgentBackend):
    """Answers with the deployment it was given; ``/fail`` on provider ``deploy`` fails before
    any output."""

    default_model = "deploy-1"
    request_fields = FIELDS
    request_options = {"priority": RequestOption(int, help="queue priority")}

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    async def run_turn(self, turn: Turn) -> AsyncIterator[Event]:
        self.seen.append(dict(turn.provider_fields))
        if turn.message == "/fail" and turn.provider == "deploy":
            raise ProviderError("down", provider=turn.provider, status=503)
        yield Message(text=f"deployment {turn.provider_fields['deployment_id']}")


class DeploymentPlugin:
    def __init__(self, name: str = "deploy") -> None:
        self.name = name
        self.backend = DeploymentBackend()

    @hookimpl
    def copass_router_register_backends(self, register: Any) -> None:
        register(self.name, lambda ctx: self.backend, fields=FIELDS)


async def _events(router: Router, **fields: Any) -> list[Event]:
    return [e async for e in router.run(message=fields.pop("message", "hi"), **fields)]


async def test_a_declared_field_reaches_its_provider_and_a_required_one_is_enforced(
    make_router: Callable[..., Router],
) -> None:
    plugin = DeploymentPlugin()
    router = make_router(plugins=[plugin])
    events = await _events(router, provider="deploy", deployment_id="d-1", shard=3)
    assert any(isinstance(e, Message) and e.text == "deployment d-1" for e in events)
    assert plugin.backend.seen == [{"deployment_id": "d-1", "shard": 3}]
    with pytest.raises(InvalidRequestError) as missing:
        await _events(router, provider="deploy", end_user_id="u-2")
    assert missing.value.field == "deployment_id"
    assert "the deployment that answers" in str(missing.value)
    with pytest.raises(InvalidRequestError) as wrong:
        await _events(router, provider="deploy", deployment_id="d-1", shard="three")
    assert wrong.value.field == "shard" and "must be int" in str(wrong.value)
    assert len(plugin.backend.seen) == 1, "a refused run reached the provider"
    assert await router.list_sessions("u-2") == []


async def test_an_unknown_field_is_refused_naming_the_declared_ones(
    make_router: Callable[..., Router],
) -> None:
    router = make_router(plugins=[DeploymentPlugin()])
    with pytest.raises(InvalidRequestError) as refused:
        await _events(router, provider="deploy", deployment_id="d-1", deploymnet="x")
    assert refused.value.field == "deploymnet"
    assert "deployment_id (deploy)" in str(refused.value)
    with pytest.raises(InvalidRequestError) as in_mapping:
        await _events(router, provider="deploy", provider_fields={"deployment_id": "d", "x": 1})
    assert in_mapping.value.field == "x" and "deployment_id" in str(in_mapping.value)


async def test_other_providers_carry_a_field_unseen_and_failover_hands_it_on(
    make_router: Callable[..., Router],
) -> None:
    first, second = DeploymentPlugin("deploy"), DeploymentPlugin("deploy-b")
    router = make_router(plugins=[first, second], retry_policy=RetryPolicy(max_retries=0))
    events = await _events(
        router,
        provider="echo",
        message="hi",
        deployment_id="d-9",
        fallbacks=[{"provider": "deploy"}],
    )
    assert isinstance(events[-1], RunFinished)
    assert first.backend.seen == []  # echo answered; it never saw the field either
    events = await _events(
        router,
        provider="deploy",
        message="/fail",
        deployment_id="d-9",
        fallbacks=[{"provider": "deploy-b", "shard": 2}],
    )
    assert any(isinstance(e, Message) and e.text == "deployment d-9" for e in events)
    assert second.backend.seen == [{"deployment_id": "d-9", "shard": 2}]


def test_the_command_line_takes_declared_fields_as_flags_and_any_as_field_pairs() -> None:
    declared = [("deploy", f) for f in FIELDS]
    args = build_parser(declared).parse_args(
        ["run", "hi", "-p", "deploy", "--deployment-id", "d-1", "--field", "other=4"]
    )
    assert provider_fields(args) == {"deployment_id": "d-1", "other": "4"}
    numbered = build_parser(declared).parse_args(["run", "hi", "--shard", "4"])
    assert provider_fields(numbered) == {"shard": 4}  # declared an int: read as one
    help_text = build_parser(declared).format_help()
    assert "run" in help_text
    (run,) = (a for a in build_parser(declared)._actions if a.dest == "command")
    assert "deploy: the deployment that answers" in run.choices["run"].format_help()  # type: ignore[attr-defined]


async def test_hosted_json_camel_case_and_a_remote_router_carry_the_field() -> None:
    plugin = DeploymentPlugin()
    router = Router(store=":memory:", load_entry_points=False, environ={}, plugins=[plugin])
    server = await start_server(create_app(router))
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            ok = await http.post(
                "/v1/runs",
                json={"provider": "deploy", "message": "hi", "deploymentId": "d-json"},
            )
            missing = await http.post("/v1/runs", json={"provider": "deploy", "message": "hi"})
        assert ok.status_code == 200 and "deployment d-json" in ok.text
        assert missing.status_code == 400 and missing.json()["field"] == "deployment_id"
        async with RemoteRouter(server.base_url) as remote:
            result = await remote.complete(provider="deploy", message="hi", deployment_id="d-r")
        assert result.text == "deployment d-r"
        assert plugin.backend.seen == [{"deployment_id": "d-json"}, {"deployment_id": "d-r"}]
    finally:
        await server.aclose()
        await router.aclose()


async def test_a_field_given_as_none_is_a_field_not_given(
    make_router: Callable[..., Router],
) -> None:
    router = make_router()  # echo only: nobody declares deployment_id
    events = await _events(
        router, provider="echo", deployment_id=None, fallbacks=[{"provider": "echo", "x": None}]
    )
    assert isinstance(events[-1], RunFinished)
    with pytest.raises(InvalidRequestError) as refused:
        await _events(router, provider="echo", deployment_id="d-1")
    assert refused.value.field == "deployment_id"


def test_a_backend_declaring_names_and_types_only_gets_plain_declarations() -> None:
    class Older(AgentBackend):
        accepts = frozenset({"region"})
        option_types = {"depth": int}

    assert Older.request_fields == (RequestField("region"),)
    assert Older.request_options == {"depth": RequestOption(int)}
    assert DeploymentBackend.accepts == {"deployment_id", "shard"}
    assert DeploymentBackend.option_types == {"priority": int}
