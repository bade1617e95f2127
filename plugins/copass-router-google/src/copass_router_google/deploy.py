"""One-time deploy of an ADK agent identity (support-agent, scheduling-agent...) to Agent Engine.

Every run afterwards names the engine by ``reasoning_engine_id``; the run's tools, token and
history travel per run, so one deployment serves every end user and every tool set.

Default path (no staging bucket): inline source. A tiny generated package (an entry module that
calls :func:`copass_router_google.agent_app.build_app`, and a requirements file naming this
plugin so the runtime installs the proxy tool's module) is sent inside the create request. With
``staging_bucket``: the AdkApp is pickled and staged in Cloud Storage (the proxy tool pickles by
reference to its module, which the requirements install).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .agent_app import DEFAULT_MODEL, build_app
from .contract import contract_env
from .proxy_tool import DISPATCH_URL_ENV

BASE_URL_ENV = "COPASS_ROUTER_GOOGLE_BASE_URL"
ACCESS_TOKEN_ENV = "COPASS_ROUTER_GOOGLE_ACCESS_TOKEN"
ENTRYPOINT_OBJECT = "app"

#: What the deployed runtime installs: this plugin (for the proxy tool's module) and the SDKs.
DEFAULT_REQUIREMENTS = (
    "copass-router-google",
    "google-cloud-aiplatform[agent_engines,adk]>=2.7",
    "google-adk>=2.13",
)

_STRING = {"type": "string"}
_OBJECT = {"type": "object", "nullable": True}

#: The AdkApp methods the engine exposes (source deploys must list them; pickled ones too, so
#: both paths publish the same surface).
CLASS_METHODS: tuple[dict[str, Any], ...] = (
    {
        "name": "async_create_session",
        "api_mode": "async",
        "description": "Creates a new session for a user.",
        "parameters": {
            "type": "object",
            "properties": {"user_id": _STRING, "session_id": _STRING, "state": _OBJECT},
            "required": ["user_id"],
        },
    },
    {
        "name": "async_get_session",
        "api_mode": "async",
        "description": "Gets a session of a user.",
        "parameters": {
            "type": "object",
            "properties": {"user_id": _STRING, "session_id": _STRING},
            "required": ["user_id", "session_id"],
        },
    },
    {
        "name": "async_list_sessions",
        "api_mode": "async",
        "description": "Lists the sessions of a user.",
        "parameters": {
            "type": "object",
            "properties": {"user_id": _STRING},
            "required": ["user_id"],
        },
    },
    {
        "name": "async_delete_session",
        "api_mode": "async",
        "description": "Deletes a session of a user.",
        "parameters": {
            "type": "object",
            "properties": {"user_id": _STRING, "session_id": _STRING},
            "required": ["user_id", "session_id"],
        },
    },
    {
        "name": "async_stream_query",
        "api_mode": "async_stream",
        "description": "Streams the agent's events for one message.",
        "parameters": {
            "type": "object",
            "properties": {
                "message": {"anyOf": [_STRING, {"type": "object"}]},
                "user_id": _STRING,
                "session_id": _STRING,
                "state_delta": _OBJECT,
                "run_config": _OBJECT,
            },
            "required": ["message", "user_id"],
        },
    },
)


def make_client(
    *,
    project: str,
    location: str,
    credentials: Any = None,
    base_url: str | None = None,
    http_options: Mapping[str, Any] | None = None,
) -> Any:
    """An ``agentplatform.Client`` (plain HTTP) for one project and location.

    ``base_url`` (else ``COPASS_ROUTER_GOOGLE_BASE_URL``) points it elsewhere, e.g. at the
    emulator; ``credentials`` default to Application Default Credentials, or to a static token
    from ``COPASS_ROUTER_GOOGLE_ACCESS_TOKEN`` when that is set.
    """
    import agentplatform

    options: dict[str, Any] = dict(http_options or {})
    url = base_url or os.environ.get(BASE_URL_ENV)
    if url:
        options["base_url"] = url
    if credentials is None and os.environ.get(ACCESS_TOKEN_ENV):
        credentials = static_token_credentials(os.environ[ACCESS_TOKEN_ENV])
    return agentplatform.Client(
        project=project, location=location, credentials=credentials, http_options=options
    )


def static_token_credentials(token: str) -> Any:
    """Credentials that send ``token`` as is (short-lived tokens, or the emulator)."""
    from google.oauth2.credentials import Credentials

    return Credentials(token=token)


class DeployedAgent(str):
    """A deployed engine's resource name (``projects/.../reasoningEngines/ID``): a ``str``,
    with the name also as :attr:`resource_name` and the id as :attr:`engine_id`."""

    __slots__ = ()

    @property
    def resource_name(self) -> str:
        """``projects/{project}/locations/{location}/reasoningEngines/{id}``."""
        return str(self)

    @property
    def engine_id(self) -> str:
        """The engine's id, the last part of its resource name."""
        return str(self).rsplit("/", 1)[-1]


_NO_DEPLOYED_KEY = (
    "deploy_adk_agent takes no API key: nothing long-lived is deployed with the agent. Each "
    "run gives the agent a run-scoped token, signed by the router and good for that run's "
    "tools only, so a copy of the engine's settings lets nobody call the router. Remove "
    "copass_api_key (the router's own API keys stay on the router)."
)


def dispatch_endpoint(router_url: str | None, copass_api_url: str | None) -> str:
    """The dispatch endpoint from ``router_url`` (the endpoint itself) or ``copass_api_url``
    (the router's base URL, as the Copass SDK's keyword names it; ``/v1/dispatch`` is added
    when it has no path)."""
    if router_url is not None and copass_api_url is not None:
        raise ValueError("give router_url or copass_api_url, not both")
    url = router_url if router_url is not None else copass_api_url
    if url is None:
        raise ValueError(
            "router_url is required: the router's dispatch endpoint, "
            "e.g. https://router.example.com/v1/dispatch"
        )
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"router_url must be an http(s) URL, got {url!r}")
    if router_url is None and urlsplit(url).path in ("", "/"):
        url = url.rstrip("/") + "/v1/dispatch"
    return url


def deploy_adk_agent(
    display_name: str,
    project: str,
    system_prompt: str,
    router_url: str | None = None,
    location: str = "us-central1",
    model: str = DEFAULT_MODEL,
    staging_bucket: str | None = None,
    credentials: Any = None,
    *,
    description: str | None = None,
    requirements: Sequence[str] = DEFAULT_REQUIREMENTS,
    env_vars: Mapping[str, str] | None = None,
    base_url: str | None = None,
    client: Any = None,
    copass_api_url: str | None = None,
    copass_api_key: str | None = None,
) -> DeployedAgent:
    """Deploy an ADK agent carrying the copass_dispatch proxy; return its resource name.

    Blocks until the create operation completes.

    :param display_name: the agent identity (e.g. ``support-agent``), once per identity.
    :param project: the Google Cloud project.
    :param system_prompt: the agent's instruction when a run passes no ``system``; each run
        appends its tool catalogue.
    :param router_url: the router's dispatch endpoint (what ``Router(dispatch_url=...)`` is
        given), set as the engine's ``COPASS_ROUTER_DISPATCH_URL``. Not a secret.
    :param location: the region.
    :param model: the Gemini model the agent runs when a run passes no ``model``.
    :param staging_bucket: ``gs://...`` to deploy a pickled agent instead of inline source.
    :param credentials: google-auth credentials; default ADC (or the static token variable).
    :param requirements: what the runtime installs (must provide ``copass_router_google``).
    :param env_vars: more engine environment variables (never put secrets here).
    :param base_url: API base URL; default ``COPASS_ROUTER_GOOGLE_BASE_URL``, else Google's.
    :param client: an existing ``agentplatform.Client`` to use instead of making one.
    :param copass_api_url: instead of ``router_url``, the router's base URL (the Copass SDK's
        keyword); its dispatch endpoint ``/v1/dispatch`` is used when the URL has no path.
    :param copass_api_key: refused (:class:`ValueError`): no long-lived key is deployed.
    :returns: ``projects/{project}/locations/{location}/reasoningEngines/{id}``, a
        :class:`DeployedAgent` (a ``str`` with ``.resource_name`` and ``.engine_id``).
    """
    if copass_api_key is not None:
        raise ValueError(_NO_DEPLOYED_KEY)
    router_url = dispatch_endpoint(router_url, copass_api_url)
    client = client or make_client(
        project=project, location=location, credentials=credentials, base_url=base_url
    )
    # The contract marker (version, deploy-time model) goes last: the backend trusts it.
    env = {DISPATCH_URL_ENV: router_url, **dict(env_vars or {}), **contract_env(model)}
    config: dict[str, Any] = {
        "display_name": display_name,
        "description": description or f"copass-router agent {display_name}",
        "env_vars": env,
        "class_methods": [dict(m) for m in CLASS_METHODS],
        "agent_framework": "google-adk",
    }
    if staging_bucket:
        app = build_app(display_name=display_name, system_prompt=system_prompt, model=model)
        config.update(staging_bucket=staging_bucket, requirements=list(requirements))
        runtime = client.runtimes.create(agent=app, config=config)
    else:
        with _source_package(display_name, system_prompt, model, requirements) as package:
            config.update(
                source_packages=[package],
                entrypoint_module=f"{package}.agent",
                entrypoint_object=ENTRYPOINT_OBJECT,
                requirements_file=f"{package}/requirements.txt",
            )
            runtime = client.runtimes.create(config=config)
    name = getattr(getattr(runtime, "api_resource", None), "name", None)
    if not name:
        raise RuntimeError(f"deploying {display_name!r} returned no engine resource name")
    return DeployedAgent(name)


class _source_package:
    """A generated package directory under the working directory, removed afterwards.

    The client library only packs paths inside the current directory, and stores them under the
    names given, so the package sits there under a unique, importable name.
    """

    def __init__(
        self, display_name: str, system_prompt: str, model: str, requirements: Sequence[str]
    ) -> None:
        self.name = f"copass_agent_{uuid.uuid4().hex[:12]}"
        self.path = Path.cwd() / self.name
        self.entry = entry_module_source(display_name, system_prompt, model)
        self.requirements = "".join(f"{line}\n" for line in requirements)

    def __enter__(self) -> str:
        self.path.mkdir()
        (self.path / "__init__.py").write_text("")
        (self.path / "agent.py").write_text(self.entry)
        (self.path / "requirements.txt").write_text(self.requirements)
        return self.name

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def entry_module_source(display_name: str, system_prompt: str, model: str) -> str:
    """The deployment's entry module: builds the AdkApp at import."""
    return (
        '"""Generated by copass-router-google: the object Agent Engine serves."""\n\n'
        "from copass_router_google.agent_app import build_app\n\n"
        f"{ENTRYPOINT_OBJECT} = build_app(\n"
        f"    display_name={display_name!r},\n"
        f"    system_prompt={system_prompt!r},\n"
        f"    model={model!r},\n"
        ")\n"
    )
