"""What the ``register`` callable of each registration hook accepts.

A plugin annotates its hook's parameter with one of these, and mypy then checks each
``register(...)`` call against the real signature (the core ships ``py.typed``)::

    @hookimpl
    def copass_router_register_backends(register: BackendRegistrar) -> None:
        register("myprovider", "copass_router_myprovider.backend:make_backend")
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from copass_router._request_fields import RequestField
    from copass_router.provider_kit._backend import AgentBackend, BackendContext
    from copass_router.store import SessionStore
    from copass_router.tools._tools import Tool


class BackendRegistrar(Protocol):
    """``register`` of ``copass_router_register_backends``."""

    def __call__(
        self,
        name: str,
        factory: Callable[[BackendContext], AgentBackend] | str,
        *,
        description: str = "",
        fields: Iterable[RequestField | str] = (),
    ) -> None:
        """Offer provider ``name``, built by ``factory`` (or a ``"module:attribute"`` naming it).

        ``fields`` declares the provider fields it uses (:class:`~copass_router.RequestField`,
        or a bare name for an optional string), the same declarations as its backend's
        ``request_fields``: they become run keywords, hosted JSON fields and CLI flags, and
        other providers carry them along instead of refusing them.
        """


class ToolRegistrar(Protocol):
    """``register`` of ``copass_router_register_tools``."""

    def __call__(self, tool: Tool | Callable[..., Any], /) -> None:
        """Offer a :class:`~copass_router.Tool`, or a plain function made into one."""


class StoreRegistrar(Protocol):
    """``register`` of ``copass_router_register_stores``."""

    def __call__(self, scheme: str, factory: Callable[[str], SessionStore], /) -> None:
        """Open URLs of ``scheme`` with ``factory(url)``."""


class CommandRegistrar(Protocol):
    """``register`` of ``copass_router_register_commands``."""

    def __call__(self, name: str, handler: Callable[[list[str]], int], help: str = "") -> None:
        """Add ``copass-router NAME``; ``handler(argv)`` returns the exit code."""


class EmulatorRegistrar(Protocol):
    """``register`` of ``copass_router_register_emulators``."""

    def __call__(self, name: str, serve: Callable[[str, int], None] | str, /) -> None:
        """Offer ``copass-router emulate NAME``; ``serve(host, port)`` blocks until interrupted."""


class PriceRegistrar(Protocol):
    """``register`` of ``copass_router_register_prices``."""

    def __call__(
        self,
        provider: str,
        model: str,
        *,
        input: Decimal | float | str,
        output: Decimal | float | str,
        cache_read: Decimal | float | str,
        cache_write: Decimal | float | str,
        effective: dt.date | str,
        source: str = "",
    ) -> None:
        """Price ``model`` of ``provider`` in USD per million tokens of each kind, from the
        date ``effective`` (``YYYY-MM-DD``) on; ``source`` says where the numbers come from."""
