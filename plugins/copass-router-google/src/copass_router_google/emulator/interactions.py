"""An emulator of Gemini's Interactions API, for tests and offline development.

The real ``google-genai`` SDK runs against it unchanged (``genai.Client(api_key=...,
http_options={"base_url": emu.base_url})``, then ``client.aio.interactions``). It keeps every
interaction with its steps, so ``previous_interaction_id`` continues a conversation the way the
service does; its "model" is the scripted model (:func:`copass_router.testing.scripted_reply`)
over that conversation. Function calls end an interaction with ``requires_action``; the next
interaction answers them with ``function_result`` steps. Built-in tools a request enables
(``code_execution``, ``google_search``) run inside the emulator as steps of their own. Faults
come from the core's emulator kit (``fail_next``, ``cut_stream``, ``hang``); ``cancel`` stops
an interaction still streaming. Run it with ``copass-router emulate gemini-agents``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import attrs
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from copass_router import ChatMessage, GenerationSettings, ToolCallRequest
from copass_router.testing import (
    EmulatorKit,
    LoopbackServer,
    ModelReply,
    scripted_reply,
    serve_emulator,
)

from ._interactions_agents import EmulatedAgents
from ._interactions_wire import (
    WireError,
    check_tools,
    error_event,
    final_status,
    frame,
    generation_settings,
    input_messages,
    output_schema,
    reply_steps,
    usage,
)

API_VERSION = "v1beta"
DEFAULT_MODELS = ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-3-flash")
_PATH = f"/{API_VERSION}/interactions"


@attrs.define
class Interaction:
    """One interaction: its conversation so far (the chain's messages) and how it ended."""

    id: str
    model: str
    conversation: list[ChatMessage]
    settings: GenerationSettings = GenerationSettings()
    output_schema: dict[str, Any] | None = None
    status: str = "in_progress"
    usage: dict[str, int] = attrs.field(factory=dict)
    steps: list[dict[str, Any]] = attrs.field(factory=list)
    cancelled: threading.Event = attrs.field(factory=threading.Event)

    def body(self) -> dict[str, Any]:
        """The interaction as the API returns it."""
        return {
            "id": self.id,
            "object": "interaction",
            "model": self.model,
            "status": self.status,
            "steps": self.steps,
            "usage": self.usage,
        }


class InteractionsEmulator:
    """The emulated API: its interactions, fault switches and the Starlette app serving it.

    :param api_key: requests must carry ``x-goog-api-key: <api_key>`` (401 otherwise).
    :param argument_piece: characters of function-call arguments per ``arguments_delta``.
    """

    def __init__(
        self, *, api_key: str = "emulator-key", models: tuple[str, ...] = DEFAULT_MODELS
    ) -> None:
        self.api_key = api_key
        self.models = models
        self.argument_piece = 5
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        #: Every interaction created and not deleted, by id.
        self.interactions: dict[str, Interaction] = {}
        #: Ids of interactions cancelled through the API, in order.
        self.cancelled: list[str] = []
        self.kit = EmulatorKit(self._render_fault)
        self.faults = self.kit.faults
        self.requests = self.kit.requests
        self.streams = self.kit.streams
        #: ``http://127.0.0.1:PORT`` once served (the SDK adds ``/v1beta/...``).
        self.base_url = ""
        #: The managed agents (``/v1beta/agents``).
        self.agents = EmulatedAgents(self._denied)
        self.app = Starlette(
            routes=[
                *self.agents.routes(API_VERSION),
                Route(_PATH, self._create, methods=["POST"]),
                Route(_PATH + "/{id}", self._get, methods=["GET"]),
                Route(_PATH + "/{id}", self._delete, methods=["DELETE"]),
                Route(_PATH + "/{id}/cancel", self._cancel, methods=["POST"]),
            ],
            middleware=[self.kit.middleware()],
        )

    def reset(self) -> None:
        """Forget interactions, recorded requests, pending faults and stream counters."""
        self.kit.reset()
        self.agents.clear()
        with self._lock:
            self.interactions.clear()
            self.cancelled.clear()

    def create_bodies(self) -> list[dict[str, Any]]:
        """The bodies of the create requests received, in order (retries included)."""
        return [r.body for r in self.requests.matching(_PATH, method="POST")]

    # --- errors -------------------------------------------------------------------------------

    def _error(self, error: WireError) -> Response:
        return JSONResponse(error.body(), status_code=error.status)

    def _render_fault(self, status: int, message: str | None) -> Response:
        return self._error(WireError(message or f"emulated {status} error", status=status))

    def _denied(self, request: Request) -> Response | None:
        if request.headers.get("x-goog-api-key") == self.api_key:
            return None
        return self._error(WireError("API key not valid. Please pass a valid API key.", 401))

    def _find(self, request: Request) -> Interaction:
        found = self.interactions.get(request.path_params["id"])
        if found is None:
            raise WireError(f"interaction {request.path_params['id']} not found", 404)
        return found

    # --- routes -------------------------------------------------------------------------------

    async def _get(self, request: Request) -> Response:
        denied = self._denied(request)
        if denied is not None:
            return denied
        try:
            return JSONResponse(self._find(request).body())
        except WireError as error:
            return self._error(error)

    async def _delete(self, request: Request) -> Response:
        denied = self._denied(request)
        if denied is not None:
            return denied
        with self._lock:
            gone = self.interactions.pop(request.path_params["id"], None)
        if gone is None:
            return self._error(WireError("interaction not found", 404))
        return JSONResponse({})

    async def _cancel(self, request: Request) -> Response:
        denied = self._denied(request)
        if denied is not None:
            return denied
        try:
            found = self._find(request)
        except WireError as error:
            return self._error(error)
        if found.status == "in_progress":
            found.status = "cancelled"
            found.cancelled.set()
            self.cancelled.append(found.id)
        return JSONResponse(found.body())

    async def _create(self, request: Request) -> Response:
        denied = self._denied(request)
        if denied is not None:
            return denied
        try:
            body = json.loads(await request.body() or b"null")
        except json.JSONDecodeError:
            return self._error(WireError("the request body is not JSON"))
        try:
            interaction, system, builtins = self._start(body)
        except WireError as error:
            return self._error(error)
        events = self._run(interaction, system, builtins)
        if body.get("stream"):
            return self.kit.event_stream(self._frames(interaction, events))
        async for _ in events:
            pass
        return JSONResponse(interaction.body())

    def _start(self, body: Any) -> tuple[Interaction, str | None, set[str]]:
        if not isinstance(body, Mapping):
            raise WireError("the request body must be an object")
        tools = list(body.get("tools") or [])
        system: str | None = body.get("system_instruction")
        model: Any
        if body.get("agent") is not None:
            model, system, agent_tools = self.agents.runtime(str(body["agent"]), body)
            tools.extend(agent_tools)
        else:
            model = body.get("model")
        if model not in self.models:
            raise WireError(f"model {model!r} is not found or not supported", 404)
        _, builtins = check_tools(tools)
        conversation: list[ChatMessage] = []
        previous_id = body.get("previous_interaction_id")
        if previous_id:
            previous = self.interactions.get(str(previous_id))
            if previous is None:
                raise WireError(f"previous interaction {previous_id} not found", 404)
            conversation = list(previous.conversation)
        conversation.extend(input_messages(body.get("input")))
        settings = generation_settings(body.get("generation_config"))
        interaction = Interaction(
            f"int_emu_{next(self._ids)}",
            str(model),
            conversation,
            settings,
            output_schema(body.get("response_format")),
        )
        with self._lock:
            self.interactions[interaction.id] = interaction
        return interaction, system, builtins

    async def _run(
        self, interaction: Interaction, system: str | None, builtins: set[str]
    ) -> AsyncIterator[dict[str, Any]]:
        """The events of one interaction; built-in tool calls run here, then the model goes on."""
        index = 0
        total: dict[str, int] = {}
        while True:
            messages = (
                [ChatMessage("system", system)] if system else []
            ) + interaction.conversation
            reply = scripted_reply(
                messages,
                model=interaction.model,
                settings=interaction.settings,
                output_schema=interaction.output_schema,
            )
            step_usage = usage(reply)
            total = {k: total.get(k, 0) + v for k, v in step_usage.items()}
            served = [c for c in reply.tool_calls if c.name in builtins]
            asked = tuple(c for c in reply.tool_calls if c.name not in builtins)
            if reply.error_code is not None:
                interaction.status = "failed"
                yield error_event(reply)
                break
            shown = attrs.evolve(reply, tool_calls=asked)
            async for event in self._steps(interaction, shown, index):
                yield event
            index += _count(shown)
            self._remember(interaction, reply)
            for call in served:
                for event in _builtin_steps(call, index):
                    yield event
                index += 2
                interaction.conversation.append(
                    ChatMessage("tool", _builtin_output(call), call_id=call.call_id, name=call.name)
                )
            if asked or not served:
                interaction.status = final_status(shown)
                break
        interaction.usage = total

    async def _steps(
        self, interaction: Interaction, reply: ModelReply, first: int
    ) -> AsyncIterator[dict[str, Any]]:
        for n, event in enumerate(reply_steps(reply, first, self.argument_piece)):
            if reply.chunk_delay and n:
                await asyncio.sleep(reply.chunk_delay)
            if interaction.cancelled.is_set():
                return
            if event["event_type"] == "step.start":
                interaction.steps.append(event["step"])
            yield event

    def _remember(self, interaction: Interaction, reply: ModelReply) -> None:
        if reply.text or reply.tool_calls:
            interaction.conversation.append(
                ChatMessage("assistant", reply.text, tool_calls=reply.tool_calls)
            )

    async def _frames(
        self, interaction: Interaction, events: AsyncIterator[dict[str, Any]]
    ) -> AsyncIterator[bytes]:
        head = {"id": interaction.id, "status": "in_progress", "model": interaction.model}
        yield frame({"event_type": "interaction.created", "interaction": head})
        async for event in events:
            if interaction.cancelled.is_set():
                break
            yield frame(event)
        if interaction.status == "in_progress" and not interaction.cancelled.is_set():
            interaction.status = "completed"
        yield frame(
            {
                "event_type": "interaction.status_update",
                "interaction_id": interaction.id,
                "status": interaction.status,
            }
        )
        done = {**head, "status": interaction.status, "usage": interaction.usage}
        yield frame({"event_type": "interaction.completed", "interaction": done})
        yield b"data: [DONE]\n\n"


def _count(reply: ModelReply) -> int:
    return int(bool(reply.thinking)) + int(bool(reply.text)) + len(reply.tool_calls)


def _builtin_output(call: ToolCallRequest) -> str:
    return f"{call.name} ran: {json.dumps(dict(call.arguments), sort_keys=True)}"


def _builtin_steps(call: ToolCallRequest, index: int) -> Iterator[dict[str, Any]]:
    arguments = dict(call.arguments)
    call_step = {"type": f"{call.name}_call", "id": call.call_id, "arguments": arguments}
    result_step = {
        "type": f"{call.name}_result",
        "call_id": call.call_id,
        "result": _builtin_output(call),
    }
    for n, step in enumerate((call_step, result_step)):
        yield {"event_type": "step.start", "index": index + n, "step": step}
        yield {"event_type": "step.stop", "index": index + n}


@contextmanager
def running_emulator(**options: Any) -> Iterator[InteractionsEmulator]:
    """An :class:`InteractionsEmulator` (``options`` go to its constructor) served on a free
    loopback port for the duration of the block."""
    emulator = InteractionsEmulator(**options)
    with LoopbackServer(emulator.app, name="gemini-agents-emulator") as server:
        emulator.base_url = server.base_url
        yield emulator


def serve(host: str, port: int) -> None:
    """Run the emulator until interrupted (``copass-router emulate gemini-agents``).

    It accepts the key in ``COPASS_ROUTER_GEMINI_EMULATOR_KEY`` (default ``emulator-key``).
    """
    key = os.environ.get("COPASS_ROUTER_GEMINI_EMULATOR_KEY") or "emulator-key"
    emulator = InteractionsEmulator(api_key=key)
    serve_emulator(emulator.app, host, port, banner=lambda url: _banner(url, key))


def _banner(base_url: str, key: str) -> str:
    return (
        f"Gemini Interactions emulator on {base_url}\n"
        f"  export GEMINI_BASE_URL={base_url} GEMINI_API_KEY={key}"
    )
