"""Which parts a provider takes, and refusing the others before the run (never dropping them).

Each backend declares, per kind of part, the media types its API takes, whether it takes the
part by URL, and the sizes it takes (:attr:`AgentBackend.part_support`). Text is always taken.
A message with a part the provider cannot take (or one over its size limit) is refused with
:class:`PartNotTakenError`, which names the part and the installed providers that do take it;
one whose parts together are over what the provider takes in one request, with
:class:`PartsTooLargeError`. A part given by URL has a size the router does not know: the
provider fetches it and judges it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import attrs

from copass_router._errors import InvalidRequestError, PayloadTooLargeError
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
    a URL the provider fetches itself (else only bytes). ``max_bytes``: the largest part of
    this kind it takes, in bytes as decoded (not as base64), or None for no limit of its own.
    ``max_request_bytes``: the most bytes of images and files, of every kind, that one request
    holding a part of this kind may carry (the message's own and those of earlier turns sent
    with it), or None. Neither limit applies to a part given by URL: its size is unknown here.
    """

    media_types: frozenset[str] = attrs.field(converter=_names)
    urls: bool = False
    max_bytes: int | None = None
    max_request_bytes: int | None = None

    def takes(self, part: ImagePart | FilePart) -> bool:
        """Whether this provider can be sent ``part`` as it is."""
        if part.media_type not in self.media_types:
            return False
        if part.url is not None:
            return self.urls
        return not self.too_large(part)

    def too_large(self, part: ImagePart | FilePart) -> bool:
        """Whether ``part``'s bytes are over :attr:`max_bytes`."""
        return part.url is None and self.max_bytes is not None and part.size > self.max_bytes


class PartNotTakenError(InvalidRequestError):
    """A message part the chosen provider cannot take. ``index`` is its place in the message
    (``turn`` the earlier turn it came from, for one in the history); ``takers`` the installed
    providers that take it, once the router has looked (None before); ``limit`` the provider's
    size limit for such a part when the part is over it (None when its kind, media type or URL
    is what the provider cannot take)."""

    def __init__(
        self,
        provider: str,
        index: int,
        part: ImagePart | FilePart,
        takers: Sequence[str] | None = None,
        turn: int | None = None,
        limit: int | None = None,
    ) -> None:
        self.provider = provider
        self.index = index
        self.part = part
        self.takers = None if takers is None else tuple(takers)
        self.turn = turn
        self.limit = limit
        how = "by URL" if part.url is not None else "as bytes"
        which = (
            f"message[{index}]"
            if turn is None
            else f"the {part.kind} the user sent in turn {turn} of this session"
        )
        article = "an" if part.kind == "image" else "a"
        what = f"{which}, {article} {part.kind} of {part.media_type} {how}"
        if limit is None:
            reason = ""
            others = "providers that take it"
        else:
            reason = (
                f": it is {part.size} bytes, over the {limit}-byte limit {provider!r} has for "
                f"{article} {part.kind}; send a smaller {part.kind}"
            )
            others = "or run on a provider whose limit it fits"
        if self.takers is None:
            elsewhere = ""
        elif self.takers:
            elsewhere = f"; {others}: {', '.join(self.takers)}"
        else:
            elsewhere = "; no installed provider takes it"
        advice = "" if turn is None else "; start a new session to leave it behind"
        super().__init__(
            f"provider {provider!r} cannot take {what}{reason}{elsewhere}{advice} "
            "(see docs/portable-context.md)",
            field="message",
        )

    def with_takers(self, takers: Iterable[str]) -> PartNotTakenError:
        """The same refusal, naming the providers that take the part."""
        return PartNotTakenError(
            self.provider, self.index, self.part, sorted(takers), self.turn, self.limit
        )


class PartsTooLargeError(PayloadTooLargeError):
    """The images and files one request to the provider would carry are over what it takes in
    one request (``max_request_bytes``): ``size`` their bytes in all, ``limit`` the provider's.
    ``history`` is true when earlier turns' parts, sent along with the message, are counted;
    ``takers`` the installed providers that take them all, once the router has looked."""

    def __init__(
        self,
        provider: str,
        size: int,
        limit: int,
        parts: Sequence[ImagePart | FilePart],
        history: bool = False,
        takers: Sequence[str] | None = None,
    ) -> None:
        self.provider = provider
        self.size = size
        self.limit = limit
        self.parts = tuple(parts)
        self.history = history
        self.takers = None if takers is None else tuple(takers)
        if history:
            what = (
                "the images and files of this message and of the earlier turns of this "
                "session it must carry"
            )
            advice = "; send fewer or smaller parts, or start a new session to leave them behind"
        else:
            what = "the images and files of this message"
            advice = "; send fewer or smaller parts"
        if self.takers:
            advice += f", or run on a provider that takes them: {', '.join(self.takers)}"
        super().__init__(
            f"{what} come to {size} bytes; provider {provider!r} takes at most {limit} bytes "
            f"of them in one request{advice} (see docs/portable-context.md)",
            field="message",
        )

    def with_takers(self, takers: Iterable[str]) -> PartsTooLargeError:
        """The same refusal, naming the providers that take the parts."""
        return PartsTooLargeError(
            self.provider, self.size, self.limit, self.parts, self.history, sorted(takers)
        )


def takes_part(support: Mapping[str, PartSupport], part: ImagePart | FilePart) -> bool:
    """Whether a backend declaring ``support`` can be sent ``part``."""
    kind = support.get(part.kind)
    return kind is not None and kind.takes(part)


def part_refusal(
    provider: str,
    part: ImagePart | FilePart,
    support: Mapping[str, PartSupport],
    index: int = -1,
    turn: int | None = None,
) -> PartNotTakenError | None:
    """The refusal of ``part`` by a backend declaring ``support``, or None if it takes it."""
    kind = support.get(part.kind)
    if kind is not None and kind.takes(part):
        return None
    limit = None
    if kind is not None and part.media_type in kind.media_types and kind.too_large(part):
        limit = kind.max_bytes
    return PartNotTakenError(provider, index, part, turn=turn, limit=limit)


def request_limit(
    support: Mapping[str, PartSupport], parts: Iterable[ImagePart | FilePart]
) -> int | None:
    """The most bytes of images and files one request holding ``parts`` may carry (the
    strictest ``max_request_bytes`` of their kinds), or None."""
    limits = [
        kind.max_request_bytes
        for part in parts
        if (kind := support.get(part.kind)) is not None and kind.max_request_bytes is not None
    ]
    return min(limits) if limits else None


def request_refusal(
    provider: str,
    parts: Sequence[ImagePart | FilePart],
    support: Mapping[str, PartSupport],
    history: bool = False,
) -> PartsTooLargeError | None:
    """The refusal of one request carrying ``parts`` whose bytes are over the provider's
    ``max_request_bytes``, or None (parts given by URL count for nothing)."""
    sent = [p for p in parts if p.url is None]
    limit = request_limit(support, sent)
    size = sum(p.size for p in sent)
    if limit is None or size <= limit:
        return None
    return PartsTooLargeError(provider, size, limit, sent, history)


def _binary(parts: Iterable[Part]) -> list[ImagePart | FilePart]:
    return [p for p in parts if isinstance(p, ImagePart | FilePart)]


def check_parts_taken(
    provider: str, message: str | Sequence[Part], support: Mapping[str, PartSupport]
) -> None:
    """Raise :class:`PartNotTakenError` for the first part ``provider`` cannot take, or
    :class:`PartsTooLargeError` when they are over its limit for one request together."""
    if isinstance(message, str):
        return
    for index, part in enumerate(message):
        if isinstance(part, ImagePart | FilePart):
            refusal = part_refusal(provider, part, support, index)
            if refusal is not None:
                raise refusal
    too_large = request_refusal(provider, _binary(message), support)
    if too_large is not None:
        raise too_large


def history_refusal(
    provider: str,
    history: Iterable[TranscriptTurn],
    support: Mapping[str, PartSupport],
    message: Sequence[Part] = (),
) -> InvalidRequestError | None:
    """The refusal of a turn whose history holds an image or file ``provider`` cannot take
    (sent while another provider ran the session), or whose bytes the store no longer has, or
    whose parts and those of its ``message`` are over what the provider takes in one request;
    or None: the model must see what the user showed it, or the turn does not run."""
    shown: list[ImagePart | FilePart] = []
    for turn in history:
        for part in _binary(turn.parts):
            refusal = part_refusal(provider, part, support, turn=turn.index)
            if refusal is not None:
                return refusal
            if not part.loaded:
                return InvalidRequestError(
                    f"the {part.kind} the user sent in turn {turn.index} of this session "
                    f"({part.media_type}, sha256 {part.sha256[:12]}) is no longer kept by the "
                    "store; start a new session",
                    field="message",
                )
            shown.append(part)
    if not shown:
        return None
    return request_refusal(provider, [*shown, *_binary(message)], support, history=True)
