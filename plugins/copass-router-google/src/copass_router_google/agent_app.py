"""The deployed agent: an ADK ``LlmAgent`` with the copass_dispatch proxy, wrapped for Agent Engine.

Runs on the agent's side. Deploying imports this module from the runtime (the deployment's
entry point calls :func:`build_app`), so everything here is importable and picklable by
reference.

How the run's tool catalogue reaches the model: the model only ever sees one tool,
``copass_dispatch``. Each run's ``state_delta`` puts the real catalogue (name, description, JSON
schema of every tool the run may use) in session state under ``copass_tools``; the agent's
instruction is an instruction provider (:func:`render_instruction`) that appends that catalogue
to the deployed system prompt on every model call, so the model always sees the current run's
tools and how to call them.

The run's system prompt and model travel the same way (``copass_system``, ``copass_model``;
see :mod:`.contract`): the instruction provider uses the run's prompt instead of the deployed
one, and a before-model callback (:func:`apply_run_model`) sets the model the request goes to
and the run's generation settings (``copass_generation``). Each falls back to the deploy-time
value when the run gives none.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .contract import GENERATION_STATE_KEY, MODEL_STATE_KEY, SYSTEM_STATE_KEY, TOOLS_STATE_KEY
from .proxy_tool import copass_dispatch

if TYPE_CHECKING:
    from agentplatform.frameworks.adk import AdkApp
    from google.adk.agents import LlmAgent
    from google.adk.agents.callback_context import CallbackContext
    from google.adk.agents.readonly_context import ReadonlyContext
    from google.adk.models.llm_request import LlmRequest

DEFAULT_MODEL = "gemini-3.1-pro"
#: The ``GenerateContentConfig`` fields a run's generation settings set.
GENERATION_CONFIG_FIELDS = ("temperature", "max_output_tokens", "stop_sequences")


def agent_name(display_name: str) -> str:
    """An ADK agent name (a Python identifier) for a display name such as ``support-agent``."""
    name = re.sub(r"\W", "_", display_name.strip()) or "copass_agent"
    return name if name[0].isalpha() or name[0] == "_" else f"agent_{name}"


def render_catalogue(tools: Sequence[Mapping[str, Any]] | None) -> str:
    """The instruction section that lists the run's tools for the model."""
    if not tools:
        return "## Tools\nNo tools are available in this run; do not call copass_dispatch."
    lines = [
        "## Tools",
        "Call a tool through copass_dispatch(tool_name=<name>, arguments=<JSON object>). "
        "The tools of this run:",
    ]
    for tool in tools:
        name = str(tool.get("name", ""))
        description = str(tool.get("description") or "").strip()
        schema = json.dumps(tool.get("parameters") or {"type": "object"}, sort_keys=True)
        lines.append(f"- {name}: {description}".rstrip(": ").rstrip())
        lines.append(f"  parameters (JSON schema): {schema}")
    return "\n".join(lines)


def render_instruction(system_prompt: str, context: ReadonlyContext) -> str:
    """Instruction provider: the run's system prompt (else the deployed one) plus the current
    run's tool catalogue.

    Being a provider (not a template string), the system prompt is used verbatim: braces in it
    are not treated as state placeholders.
    """
    tools = context.state.get(TOOLS_STATE_KEY)
    listed = tools if isinstance(tools, list) else None
    override = context.state.get(SYSTEM_STATE_KEY)
    prompt = override if isinstance(override, str) else system_prompt
    return f"{prompt.rstrip()}\n\n{render_catalogue(listed)}".lstrip()


def apply_run_model(callback_context: CallbackContext, llm_request: LlmRequest) -> None:
    """Before-model callback: send the request to the run's model when the run names one, with
    the run's generation settings.

    ADK's Gemini calls ``llm_request.model`` with ``llm_request.config``; without a run model it
    keeps the agent's own (deploy-time) model. Returns None so the model is always called.
    """
    model = callback_context.state.get(MODEL_STATE_KEY)
    if isinstance(model, str) and model.strip():
        llm_request.model = model.strip()
    settings = callback_context.state.get(GENERATION_STATE_KEY)
    if isinstance(settings, Mapping) and llm_request.config is not None:
        for name in GENERATION_CONFIG_FIELDS:
            if settings.get(name) is not None:
                setattr(llm_request.config, name, settings[name])


def build_agent(*, display_name: str, system_prompt: str, model: str = DEFAULT_MODEL) -> LlmAgent:
    """The ADK agent: the model, the instruction provider, the run-model callback and the one
    proxy tool."""
    from google.adk.agents import LlmAgent

    return LlmAgent(
        name=agent_name(display_name),
        model=model,
        instruction=functools.partial(render_instruction, system_prompt),
        before_model_callback=apply_run_model,
        tools=[copass_dispatch],
    )


def build_app(*, display_name: str, system_prompt: str, model: str = DEFAULT_MODEL) -> AdkApp:
    """The agent wrapped for Agent Engine (the object a deployment's entry point exposes)."""
    from agentplatform.frameworks.adk import AdkApp

    return AdkApp(
        agent=build_agent(display_name=display_name, system_prompt=system_prompt, model=model)
    )
