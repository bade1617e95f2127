"""What a ``google`` run may carry: its own fields and its options, declared once.

Light on purpose: the plugin registers these fields (``__init__``) without importing the SDK,
and the backend declares the same tuple.
"""

from __future__ import annotations

from collections.abc import Mapping

from copass_router import RequestField, RequestOption

ENGINE_FIELDS = (
    RequestField(
        "reasoning_engine_id",
        required=True,
        help="the deployed agent engine: projects/P/locations/L/reasoningEngines/ID, or the "
        "ID with a project (GOOGLE_CLOUD_PROJECT or options['project'])",
    ),
    RequestField("location", help="the engine's region, for a short engine id"),
)
ENGINE_OPTIONS: Mapping[str, RequestOption] = {
    "project": RequestOption(str, help="the project of a short engine id"),
}
