"""The one cattrs converter: how events, transcripts and requests become JSON and back."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from copass_router._types import (
    AssistantItem,
    Binding,
    ToolCallItem,
    ToolResultItem,
    TranscriptItem,
    TranscriptTurn,
    UserItem,
)
from copass_router.content._parts import FilePart, ImagePart, Part, TextPart

_ITEM_TAGS: dict[type, str] = {
    UserItem: "user",
    AssistantItem: "assistant",
    ToolCallItem: "tool_call",
    ToolResultItem: "tool_result",
}


@functools.cache
def get_converter() -> Any:
    """The one cattrs converter, built on first use (importing cattrs costs ~15 ms)."""
    import cattrs
    from cattrs.strategies import configure_tagged_union

    converter = cattrs.Converter(omit_if_default=False)
    # Money stays exact: a Decimal travels as a JSON string.
    converter.register_unstructure_hook(Decimal, str)
    converter.register_structure_hook(Decimal, lambda value, _: Decimal(str(value)))
    _configure_parts(converter, configure_tagged_union)
    configure_tagged_union(
        TranscriptItem, converter, tag_name="kind", tag_generator=lambda cls: _ITEM_TAGS[cls]
    )
    return converter


def _configure_parts(converter: Any, configure_tagged_union: Any) -> None:
    """A part in a stored turn is a reference: its bytes live in the blob table (by sha256)."""

    def reference(part: ImagePart | FilePart) -> dict[str, Any]:
        data: dict[str, Any] = {"media_type": part.media_type, "sha256": part.sha256}
        data["size"], data["url"] = part.size, part.url
        if isinstance(part, FilePart):
            data["name"] = part.name
        return data

    def image(data: Mapping[str, Any], _: Any) -> ImagePart:
        return ImagePart(data["media_type"], None, data.get("url"), data["sha256"], data["size"])

    def file(data: Mapping[str, Any], _: Any) -> FilePart:
        return FilePart(
            data["media_type"], None, data.get("url"), data["sha256"], data["size"],
            data.get("name"),
        )  # fmt: skip

    converter.register_unstructure_hook(ImagePart, reference)
    converter.register_unstructure_hook(FilePart, reference)
    converter.register_structure_hook(ImagePart, image)
    converter.register_structure_hook(FilePart, file)
    kinds = {TextPart: "text", ImagePart: "image", FilePart: "file"}
    configure_tagged_union(Part, converter, tag_name="type", tag_generator=lambda c: kinds[c])


def turn_to_json(turn: TranscriptTurn) -> str:
    """A transcript turn as compact JSON (how the store keeps it)."""
    return json.dumps(get_converter().unstructure(turn), separators=(",", ":"), default=str)


def turn_from_json(text: str) -> TranscriptTurn:
    """Rebuild a transcript turn stored with :func:`turn_to_json`."""
    return get_converter().structure(json.loads(text), TranscriptTurn)


def turn_to_dict(turn: TranscriptTurn) -> dict[str, Any]:
    """A transcript turn as a JSON-ready dict (for the hosted API and the CLI)."""
    data: dict[str, Any] = get_converter().unstructure(turn)
    return data


def binding_from_row(native_id: str, synced: int, data: str) -> Binding:
    """A binding as the store reads it back."""
    return Binding(native_id=native_id, synced_turns=synced, data=json.loads(data))


def dumps(value: Mapping[str, Any]) -> str:
    """Compact JSON for store values."""
    return json.dumps(value, separators=(",", ":"), default=str)
