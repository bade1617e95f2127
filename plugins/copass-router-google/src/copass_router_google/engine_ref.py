"""Which deployed agent a run targets: parsing ``reasoning_engine_id`` into a resource name.

No SDK imports here: the backend validates requests with this before touching Google.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import attrs

from copass_router import InvalidRequestError

DEFAULT_LOCATION = "us-central1"

_FULL = re.compile(r"^projects/([^/\s]+)/locations/([^/\s]+)/reasoningEngines/([^/\s]+)$")
_SHORT = re.compile(r"^(?:reasoningEngines/)?([A-Za-z0-9][A-Za-z0-9_-]{0,127})$")
_LOCATION = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_PROJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:._-]{0,127}$")


@attrs.frozen
class EngineRef:
    """A reasoning engine's coordinates."""

    project: str
    location: str
    engine_id: str

    @property
    def name(self) -> str:
        """The full resource name ``projects/{p}/locations/{l}/reasoningEngines/{id}``."""
        return (
            f"projects/{self.project}/locations/{self.location}/reasoningEngines/{self.engine_id}"
        )


def parse_engine_ref(
    reasoning_engine_id: str | None,
    *,
    location: str | None,
    project: str | None,
    environ: Mapping[str, str],
) -> EngineRef:
    """Resolve ``reasoning_engine_id`` (a full resource name or a short id) to an engine.

    A full name carries its own project and location; ``location`` may not contradict it. A
    short id takes ``location`` (else ``GOOGLE_CLOUD_LOCATION``, else us-central1) and
    ``project`` (else ``GOOGLE_CLOUD_PROJECT``). Raises :class:`InvalidRequestError` naming the
    field at fault.
    """
    if not reasoning_engine_id or not reasoning_engine_id.strip():
        raise InvalidRequestError(
            "provider 'google' runs a deployed ADK agent: pass reasoning_engine_id "
            "(projects/P/locations/L/reasoningEngines/ID, or the ID with a project); "
            "deploy one with `copass-router google deploy`",
            field="reasoning_engine_id",
        )
    value = reasoning_engine_id.strip()
    if location is not None and not _LOCATION.match(location):
        raise InvalidRequestError(
            f"location {location!r} is not a Google Cloud location such as 'us-central1'",
            field="location",
        )
    full = _FULL.match(value)
    if full:
        ref = EngineRef(full.group(1), full.group(2), full.group(3))
        if location is not None and location != ref.location:
            raise InvalidRequestError(
                f"location {location!r} contradicts the engine's resource name (which is in "
                f"{ref.location!r}); drop location or pass the short id",
                field="location",
            )
        _check_parts(ref)
        return ref
    short = _SHORT.match(value)
    if not short:
        raise InvalidRequestError(
            f"reasoning_engine_id {value!r} is malformed: expected "
            "projects/P/locations/L/reasoningEngines/ID or a short engine ID",
            field="reasoning_engine_id",
        )
    project = project or environ.get("GOOGLE_CLOUD_PROJECT")
    if not project:
        raise InvalidRequestError(
            f"reasoning_engine_id {value!r} is a short id, so the project is needed: set "
            "GOOGLE_CLOUD_PROJECT, pass options={'project': ...}, or use the full resource name",
            field="reasoning_engine_id",
        )
    where = location or environ.get("GOOGLE_CLOUD_LOCATION") or DEFAULT_LOCATION
    ref = EngineRef(project, where, short.group(1))
    _check_parts(ref)
    return ref


def _check_parts(ref: EngineRef) -> None:
    if not _PROJECT.match(ref.project):
        raise InvalidRequestError(
            f"project {ref.project!r} is not a valid Google Cloud project id",
            field="reasoning_engine_id",
        )
    if not _LOCATION.match(ref.location):
        raise InvalidRequestError(
            f"location {ref.location!r} is not a Google Cloud location such as 'us-central1'",
            field="location",
        )
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$", ref.engine_id):
        raise InvalidRequestError(
            f"reasoning engine id {ref.engine_id!r} is malformed", field="reasoning_engine_id"
        )
