"""W3C trace context headers (``traceparent``, ``tracestate``) read off an incoming request.

The core carries trace context as plain strings and never interprets it (it imports no
OpenTelemetry): the hosted API and the dispatch callback hand what the caller sent to event
middleware, and a tracer plugin sets what a run's provider requests should carry on
``ToolContext.trace_context`` (backends read it as ``Turn.trace_context``). Only well-formed
headers pass: a malformed one is dropped, never an error (tracing must not fail a call).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

#: ``version-trace_id-parent_id-flags`` in lower-case hex (W3C Trace Context, level 1); version
#: ``ff`` is invalid, and so are all-zero ids.
_TRACEPARENT = re.compile(
    r"(?!ff)[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}"
)
#: The longest ``traceparent`` kept: version 00 is 55 characters, a later version may add fields
#: after them, but nothing a service copies into its logs and events needs more.
MAX_TRACEPARENT = 256
#: The spec's limit for a ``tracestate`` a service must propagate (32 members of <= 256 chars
#: are allowed, but 512 is what it asks every participant to keep).
MAX_TRACESTATE = 512


def trace_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The valid W3C trace context among ``headers`` (empty when there is no valid
    ``traceparent``; ``tracestate`` only beside one, printable ASCII, at most 512 chars)."""
    traceparent = headers.get("traceparent")
    if not isinstance(traceparent, str):
        return {}
    traceparent = traceparent.strip()
    if len(traceparent) > MAX_TRACEPARENT:
        return {}
    # A future version may append fields after the four (the spec says to read the four).
    if not _TRACEPARENT.fullmatch(traceparent[:55]) or (
        len(traceparent) > 55 and (traceparent[:2] == "00" or traceparent[55] != "-")
    ):
        return {}
    found = {"traceparent": traceparent}
    tracestate = headers.get("tracestate")
    if isinstance(tracestate, str):
        tracestate = tracestate.strip()
        if 0 < len(tracestate) <= MAX_TRACESTATE and _printable_ascii(tracestate):
            found["tracestate"] = tracestate
    return found


def _printable_ascii(text: str) -> bool:
    return text.isascii() and text.isprintable()
