"""The emulator's engines: deployed AdkApps loaded from inline source and run by real ADK code.

A create request carries a base64 tarball, an entry module and object, class methods and the
engine's environment. The host unpacks the tarball, imports the entry module the way Agent
Engine does, and swaps only the agent's model for :class:`ScriptedGemini`; everything else
(runner, in-memory sessions, instruction provider, the copass_dispatch tool calling the router
over loopback) is the deployed code.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import itertools
import re
import shutil
import tarfile
import tempfile
import time
import warnings
from collections.abc import AsyncGenerator, Mapping
from pathlib import Path
from typing import Any

import attrs

from copass_router.testing import schema_problems

from ..agent_app import agent_name, build_app, render_catalogue
from ..contract import TOOLS_STATE_KEY
from ..proxy_tool import copass_dispatch, runtime_environ
from ._model import ScriptedGemini
from ._parts import PartError, check_adk_message


class EngineError(Exception):
    """A request the emulated service refuses; carries the HTTP status and Google status."""

    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", lambda m: "_" + m.group(1).lower(), key)


def snake_keys(value: Any, *, keep: frozenset[str] = frozenset({"class_methods"})) -> Any:
    """Proto-JSON accepts camelCase and snake_case field names; normalise to snake_case."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            name = _snake(key)
            out[name] = item if name in keep else snake_keys(item, keep=keep)
        return out
    if isinstance(value, list):
        return [snake_keys(v, keep=keep) for v in value]
    return value


def _timestamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + ".000000Z"


@attrs.define
class Engine:
    """One deployed reasoning engine."""

    name: str
    display_name: str
    description: str
    spec: dict[str, Any]
    env: dict[str, str]
    app: Any
    model: ScriptedGemini
    created: float = attrs.field(factory=time.time)

    @property
    def class_methods(self) -> list[dict[str, Any]]:
        """The methods the engine publishes."""
        return list(self.spec.get("class_methods") or [])

    def resource(self) -> dict[str, Any]:
        """The engine as the REST API returns it (camelCase, secrets never included)."""
        spec: dict[str, Any] = {
            "agentFramework": self.spec.get("agent_framework", "google-adk"),
            "classMethods": self.class_methods,
        }
        if self.env:
            spec["deploymentSpec"] = {"env": [{"name": k, "value": v} for k, v in self.env.items()]}
        python = (self.spec.get("source_code_spec") or {}).get("python_spec")
        if python:
            spec["sourceCodeSpec"] = {
                "pythonSpec": {
                    "version": python.get("version", ""),
                    "entrypointModule": python.get("entrypoint_module", ""),
                    "entrypointObject": python.get("entrypoint_object", ""),
                }
            }
        return {
            "name": self.name,
            "displayName": self.display_name,
            "description": self.description,
            "spec": spec,
            "createTime": _timestamp(self.created),
            "updateTime": _timestamp(self.created),
            "etag": f"etag-{int(self.created * 1000)}",
        }


class EngineHost:
    """Every engine the emulator serves, keyed by resource name."""

    def __init__(self) -> None:
        self.engines: dict[str, Engine] = {}
        self._ids = itertools.count(7_000_000_000_000_000_001)
        self._modules = itertools.count(1)
        self._workdir = Path(tempfile.mkdtemp(prefix="copass-google-emulator-"))

    def close(self) -> None:
        """Remove unpacked sources."""
        shutil.rmtree(self._workdir, ignore_errors=True)

    def new_name(self, parent: str) -> str:
        """A fresh engine resource name under ``projects/P/locations/L``."""
        return f"{parent}/reasoningEngines/{next(self._ids)}"

    def create(self, name: str, body: Mapping[str, Any]) -> Engine:
        """Build the engine a create request describes (raises EngineError if it can't)."""
        data = snake_keys(dict(body))
        spec = dict(data.get("spec") or {})
        source = spec.get("source_code_spec") or {}
        archive = (source.get("inline_source") or {}).get("source_archive")
        python = source.get("python_spec") or {}
        if not archive:
            raise EngineError(
                400,
                "INVALID_ARGUMENT",
                "spec.sourceCodeSpec.inlineSource.sourceArchive is required",
            )
        if not python.get("entrypoint_module") or not python.get("entrypoint_object"):
            raise EngineError(400, "INVALID_ARGUMENT", "entrypoint module and object are required")
        if not spec.get("class_methods"):
            raise EngineError(400, "INVALID_ARGUMENT", "spec.classMethods is required")
        env = {
            str(e["name"]): str(e.get("value", ""))
            for e in (spec.get("deployment_spec") or {}).get("env", [])
        }
        app = self._load(archive, python["entrypoint_module"], python["entrypoint_object"])
        return self._register(name, data, spec, env, app)

    def add(
        self,
        name: str,
        *,
        display_name: str,
        system_prompt: str,
        env: Mapping[str, str],
        class_methods: list[dict[str, Any]],
        model: str = "gemini-3.1-pro",
        legacy: bool = False,
    ) -> Engine:
        """Register an engine directly (what a completed deploy would have produced).

        ``legacy``: the agent an older version of this plugin deployed (contract 1: the system
        prompt and model fixed at deploy time, no contract marker in its environment).
        """
        build = legacy_app if legacy else build_app
        app = build(display_name=display_name, system_prompt=system_prompt, model=model)
        data = {"display_name": display_name, "description": ""}
        spec = {"class_methods": class_methods, "agent_framework": "google-adk"}
        return self._register(name, data, spec, dict(env), app)

    def _register(
        self,
        name: str,
        data: Mapping[str, Any],
        spec: dict[str, Any],
        env: dict[str, str],
        app: Any,
    ) -> Engine:
        model = _prepare(app)
        engine = Engine(
            name=name,
            display_name=str(data.get("display_name") or ""),
            description=str(data.get("description") or ""),
            spec=spec,
            env=env,
            app=app,
            model=model,
        )
        self.engines[name] = engine
        return engine

    def _load(self, archive: str, module: str, attribute: str) -> Any:
        root = self._workdir / f"engine{next(self._modules)}"
        root.mkdir()
        try:
            with tarfile.open(fileobj=io.BytesIO(_bytes_field(archive)), mode="r:gz") as tar:
                tar.extractall(root, filter="data")
        except (tarfile.TarError, ValueError, EOFError, OSError) as exc:
            raise EngineError(400, "INVALID_ARGUMENT", f"bad source archive: {exc}") from exc
        relative = Path(*module.split("."))
        path = root / relative.with_suffix(".py")
        if not path.exists():
            path = root / relative / "__init__.py"
        if not path.exists():
            raise EngineError(400, "INVALID_ARGUMENT", f"entrypoint module {module!r} not found")
        spec = importlib.util.spec_from_file_location(f"_copass_engine_{root.name}", path)
        if spec is None or spec.loader is None:
            raise EngineError(400, "INVALID_ARGUMENT", f"cannot import {module!r}")
        loaded = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(loaded)
        except Exception as exc:
            raise EngineError(
                400, "FAILED_PRECONDITION", f"importing {module!r} failed: {exc!r}"
            ) from exc
        if not hasattr(loaded, attribute):
            raise EngineError(400, "INVALID_ARGUMENT", f"{module!r} has no {attribute!r}")
        return getattr(loaded, attribute)

    def get(self, name: str) -> Engine:
        """The engine called ``name`` (EngineError 404 if none)."""
        engine = self.engines.get(name)
        if engine is None:
            raise EngineError(404, "NOT_FOUND", f"The ReasoningEngine {name} does not exist.")
        return engine

    async def query(self, engine: Engine, method: str, payload: Mapping[str, Any]) -> Any:
        """Run a session method (``:query``) and return its JSON output."""
        fn = self._method(engine, method, ("", "async"))
        token = runtime_environ.set(engine.env)
        try:
            result = fn(**payload)
            if hasattr(result, "__await__"):
                result = await result
        except (TypeError, ValueError) as exc:
            raise EngineError(400, "INVALID_ARGUMENT", _failure(exc)) from exc
        except RuntimeError as exc:
            raise EngineError(400, "FAILED_PRECONDITION", _failure(exc)) from exc
        finally:
            runtime_environ.reset(token)
        return _json(result)

    def check_stream(self, engine: Engine, method: str, payload: Mapping[str, Any]) -> None:
        """Refuse a stream request before it starts, as the service does."""
        self._method(engine, method, ("async_stream", "stream"))
        user_id, session_id = payload.get("user_id"), payload.get("session_id")
        if not isinstance(user_id, str) or not user_id:
            raise EngineError(400, "INVALID_ARGUMENT", "user_id is required")
        _check_catalogue((payload.get("state_delta") or {}).get(TOOLS_STATE_KEY))
        try:
            check_adk_message(payload.get("message"))
        except PartError as exc:
            raise EngineError(400, "INVALID_ARGUMENT", str(exc)) from None
        if session_id is None:
            return
        owner = _session_owner(engine.app, str(session_id))
        if owner is None:
            raise EngineError(404, "NOT_FOUND", f"Session {session_id} not found.")
        if owner != user_id:
            raise EngineError(
                400,
                "FAILED_PRECONDITION",
                f"Session {session_id} does not belong to user {user_id}.",
            )

    async def stream(
        self, engine: Engine, method: str, payload: Mapping[str, Any]
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Run ``async_stream_query`` and yield its ADK event dumps."""
        fn = self._method(engine, method, ("async_stream", "stream"))
        token = runtime_environ.set(engine.env)
        try:
            events = fn(**payload)
            try:
                async for event in events:
                    yield _json(event)
            finally:
                await events.aclose()
        finally:
            runtime_environ.reset(token)

    @staticmethod
    def _method(engine: Engine, method: str, modes: tuple[str, ...]) -> Any:
        published = {m.get("name"): m.get("api_mode", "") for m in engine.class_methods}
        if method not in published or published[method] not in modes:
            raise EngineError(
                400, "INVALID_ARGUMENT", f"class method {method!r} is not available on this API"
            )
        fn = getattr(engine.app, method, None)
        if fn is None:
            raise EngineError(400, "INVALID_ARGUMENT", f"the agent has no method {method!r}")
        return fn


def legacy_app(*, display_name: str, system_prompt: str, model: str) -> Any:
    """The AdkApp contract-1 deploys built: the deployed prompt plus the run's tool catalogue,
    the deploy-time model, no before-model callback."""
    from agentplatform.frameworks.adk import AdkApp
    from google.adk.agents import LlmAgent

    def instruction(context: Any) -> str:
        tools = context.state.get(TOOLS_STATE_KEY)
        listed = tools if isinstance(tools, list) else None
        return f"{system_prompt.rstrip()}\n\n{render_catalogue(listed)}"

    agent = LlmAgent(
        name=agent_name(display_name),
        model=model,
        instruction=instruction,
        tools=[copass_dispatch],
    )
    return AdkApp(agent=agent)


def _prepare(app: Any) -> ScriptedGemini:
    """Swap the deployed agent's model for the scripted one and set the app up in memory."""
    from google.adk.sessions.in_memory_session_service import InMemorySessionService

    attributes = getattr(app, "_tmpl_attrs", None)
    if not isinstance(attributes, dict) or attributes.get("agent") is None:
        raise EngineError(400, "INVALID_ARGUMENT", "the entrypoint object is not an ADK AdkApp")
    agent = attributes["agent"]
    model = agent.model if isinstance(agent.model, str) and agent.model else "gemini-3.1-pro"
    scripted = agent.model = ScriptedGemini(model=model)
    attributes["session_service_builder"] = InMemorySessionService
    with warnings.catch_warnings():  # ADK flags its in-memory services as experimental
        warnings.simplefilter("ignore", UserWarning)
        app.set_up()
    return scripted


def _check_catalogue(tools: Any) -> None:
    """The run's tool catalogue reaches a Gemini model: its schemas must be ones Gemini's
    function declarations take (what Gemini refuses, the emulator refuses)."""
    for tool in tools if isinstance(tools, list) else ():
        parameters = tool.get("parameters") if isinstance(tool, Mapping) else None
        problems = schema_problems(parameters or {"type": "object"}, "gemini")
        if problems:
            name = tool.get("name") if isinstance(tool, Mapping) else "?"
            raise EngineError(
                400, "INVALID_ARGUMENT", f"tool {name}: invalid schema: {problems[0]}"
            )


def _session_owner(app: Any, session_id: str) -> str | None:
    service = app._tmpl_attrs.get("session_service")
    for users in getattr(service, "sessions", {}).values():
        for user_id, sessions in users.items():
            if session_id in sessions:
                return str(user_id)
    return None


def _bytes_field(value: str) -> bytes:
    """Proto-JSON bytes: standard or URL-safe base64 (the SDK sends the latter), padded or not."""
    text = value.replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _failure(exc: BaseException) -> str:
    return f"Reasoning Engine Execution failed. Error Details: {exc}"


def _json(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value
