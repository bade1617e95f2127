"""Which parts a provider takes, and refusing the others before the run (never dropping them).

Each backend declares, per kind of part, the media types its API takes and whether it takes
the part by URL (:attr:`AgentBackend.part_support`). Text is always taken. A message with a
part the provider cannot take is refused with :class:`PartNotTakenError`, which names the part
and the installed providers that do take it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import attrs

from copass_router._errors import InvalidRequestError
from copass_router.content._parts import FilePart, ImagePart, Part

if TYPE_CHECKING:
    from copass_router._types import TranscriptTurn


def _names(values: Iterable[str]) -> frozenset[str]:
    return frozenset(values)


#: The image media types every provider here takes.
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


@attrs.frozen
class PartSupport:
    """What a provider takes of one kind of part (``image`` or ``file``).

    ``media_types``: the media types its API accepts. ``urls``: whether it takes the part as
    a URL the provider fetches itself (else only bytes).
    """

    media_types: frozenset[str] = attrs.field(converter=_names)
    urls: bool = False

    def takes(self, part: ImagePart | FilePart) -> bool:
        """Whether this provider can be sent ``part`` as it is."""
        if part.media_type not in self.media_types:
            return False
        return part.url is None or self.urls


class PartNotTakenError(InvalidRequestError):
    """A message part the chosen provider cannot take. ``index`` is its place in the message
    (``turn`` the earlier turn it came from, for one in the history); ``takers`` the installed
    providers that take it, once the router has looked (None before)."""

    def __init__(
        self,
        provider: str,
        index: int,
        part: ImagePart | FilePart,
        takers: Sequence[str] | None = None,
        turn: int | None = None,
    ) -> None:
        self.provider = provider
        self.index = index
        self.part = part
        self.takers = None if takers is None else tuple(takers)
        self.turn = turn
        how = "by URL" if part.url is not None else "as bytes"
        if self.takers is None:
            others = ""
        elif self.takers:
            others = f"; providers that take it: {', '.join(self.takers)}"
        else:
            others = "; no installed provider takes it"
        which = (
            f"message[{index}]"
            if turn is None
            else f"the {part.kind} the user sent in turn {turn} of this session"
        )
        advice = "" if turn is None else "; start a new session to leave it behind"
        article = "an" if part.kind == "image" else "a"
        super().__init__(
            f"provider {provider!r} cannot take {which}, {article} {part.kind} of "
            f"{part.media_type} {how}{others}{advice} (see docs/portable-context.md)",
            field="message",
        )

    def with_takers(self, takers: Iterable[str]) -> PartNotTakenError:
        """The same refusal, naming the providers that take the part."""
        return PartNotTakenError(self.provider, self.index, self.part, sorted(takers), self.turn)


def takes_part(support: Mapping[str, PartSupport], part: ImagePart | FilePart) -> bool:
    """Whether a backend declaring ``support`` can be sent ``part``."""
    kind = support.get(part.kind)
    return kind is not None and kind.takes(part)


def check_parts_taken(
    provider: str, message: str | Sequence[Part], support: Mapping[str, PartSupport]
) -> None:
    """Raise :class:`PartNotTakenError` for the first part ``provider`` cannot take."""
    if isinstance(message, str):
        return
    for index, part in enumerate(message):
        if isinstance(part, ImagePart | FilePart) and not takes_part(support, part):
            raise PartNotTakenError(provider, index, part)


def history_refusal(
    provider: str, history: Iterable[TranscriptTurn], support: Mapping[str, PartSupport]
) -> InvalidRequestError | None:
    """The refusal of a turn whose history holds an image or file ``provider`` cannot take
    (sent while another provider ran the session), or whose bytes the store no longer has, or
    None: the model must see what the user showed it, or the turn does not run."""
    for turn in history:
        for part in turn.parts:
            if not isinstance(part, ImagePart | FilePart):
                continue
            if not takes_part(support, part):
                return PartNotTakenError(provider, -1, part, turn=turn.index)
            if not part.loaded:
                return InvalidRequestError(
                    f"the {part.kind} the user sent in turn {turn.index} of this session "
                    f"({part.media_type}, sha256 {part.sha256[:12]}) is no longer kept by the "
                    "store; start a new session",
                    field="message",
                )
    return None
