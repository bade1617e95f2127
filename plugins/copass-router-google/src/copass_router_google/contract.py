"""The contract between the router's google backend and the ADK agents this plugin deploys.

No SDK imports here: both sides (the backend in the router, the agent in Agent Engine) use it.

Per run, the backend passes in the ADK session's ``state_delta``:

- ``temp:copass_dispatch_token``: the run-scoped token the proxy tool sends back to the router.
  ADK keeps ``temp:`` state for the invocation only, so the token is never stored in the session
  (contract-1 agents read it from ``copass_dispatch_token``, which the session keeps).
- ``copass_tools``: the run's tool catalogue, rendered into the instruction.
- ``copass_system``: the run's system prompt, or None: the agent uses the deploy-time prompt.
- ``copass_model``: the run's model, or None: the agent calls the deploy-time model.
- ``copass_generation``: the run's generation settings (``temperature``, ``max_output_tokens``,
  ``stop_sequences``; only those set), or None: the model's own defaults.
- ``temp:copass_trace_context``: only when a tracer plugin set the run's trace context
  (``Turn.trace_context``): ``{"traceparent": ..., "tracestate": ...}``, which the proxy tool
  sends back as W3C headers on its callback so the tool's span joins the run's trace. Trace ids
  only, kept for the invocation like the token. An agent that does not read it ignores it.

The values are set on every run (None included), because session state persists: a prompt one
turn passed must not leak into the next.

Deploying records the contract in the engine's environment, which the engine resource shows
(``spec.deploymentSpec.env``): ``COPASS_ROUTER_AGENT_CONTRACT`` (its version) and
``COPASS_ROUTER_AGENT_MODEL`` (the deploy-time model). An engine without them was deployed by a
version of this plugin that fixed the system prompt and model at deploy time (contract 1).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

TOKEN_STATE_KEY = "copass_dispatch_token"
TEMP_TOKEN_STATE_KEY = f"temp:{TOKEN_STATE_KEY}"
TOOLS_STATE_KEY = "copass_tools"
SYSTEM_STATE_KEY = "copass_system"
MODEL_STATE_KEY = "copass_model"
GENERATION_STATE_KEY = "copass_generation"
TRACE_STATE_KEY = "temp:copass_trace_context"

CONTRACT_ENV = "COPASS_ROUTER_AGENT_CONTRACT"
MODEL_ENV = "COPASS_ROUTER_AGENT_MODEL"

#: 1: tools per run, system prompt and model fixed at deploy time.
#: 2: the run's system prompt and model reach the model (``copass_system``, ``copass_model``).
#: 3: the run's generation settings reach the model too (``copass_generation``).
CONTRACT_VERSION = 3
LEGACY_CONTRACT = 1


_TRACEPARENT = re.compile(
    r"(?!ff)[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}"
)
MAX_TRACESTATE = 512


def trace_headers(value: object) -> dict[str, str]:
    """The W3C headers to send for a trace context value (``traceparent`` and, beside it,
    ``tracestate``); empty when the value holds no well-formed ``traceparent``. Both sides use
    it: what the backend puts in the state, and what the proxy tool turns into headers (a
    malformed value never fails a call: it is left out)."""
    if not isinstance(value, Mapping):
        return {}
    traceparent = value.get("traceparent")
    if not isinstance(traceparent, str) or not _TRACEPARENT.fullmatch(traceparent):
        return {}
    found = {"traceparent": traceparent}
    tracestate = value.get("tracestate")
    if (
        isinstance(tracestate, str)
        and 0 < len(tracestate) <= MAX_TRACESTATE
        and tracestate.isascii()
        and tracestate.isprintable()
    ):
        found["tracestate"] = tracestate
    return found


def contract_env(model: str) -> dict[str, str]:
    """The engine environment a deploy records: the contract version and deploy-time model."""
    return {CONTRACT_ENV: str(CONTRACT_VERSION), MODEL_ENV: model}


@attrs.frozen
class EngineContract:
    """What a deployed engine's metadata says it honours."""

    version: int
    model: str | None = None

    @property
    def per_run_settings(self) -> bool:
        """Whether the agent takes the run's system prompt and model."""
        return self.version >= 2

    @property
    def per_run_generation(self) -> bool:
        """Whether the agent takes the run's generation settings."""
        return self.version >= 3


def contract_from_env(env: Iterable[tuple[str, str]]) -> EngineContract:
    """The contract an engine's environment (name, value pairs) records."""
    values = dict(env)
    try:
        version = int(values.get(CONTRACT_ENV) or LEGACY_CONTRACT)
    except ValueError:
        version = LEGACY_CONTRACT
    return EngineContract(version=version, model=values.get(MODEL_ENV) or None)


def contract_of(runtime: Any) -> EngineContract:
    """The contract of an engine the client library returned (``client.runtimes.get``)."""
    spec = getattr(getattr(runtime, "api_resource", None), "spec", None)
    deployment = getattr(spec, "deployment_spec", None)
    env = getattr(deployment, "env", None) or []
    pairs = [
        (str(e.name), str(e.value or ""))
        for e in env
        if getattr(e, "name", None) and getattr(e, "value", None) is not None
    ]
    return contract_from_env(pairs)
