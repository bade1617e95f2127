"""The usage part of the Router's API: the ledger of model calls and what it reports."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: `from copass_router import Router` stays light
    import datetime as dt

    from copass_router.accounting._usage import UsageLedger, UsageRow
    from copass_router.store import SessionStore


def open_ledger(ledger: UsageLedger | str | None, store: SessionStore | None) -> UsageLedger:
    """The ledger ``Router(ledger=...)`` names: a ledger as given; a URL opened (SQLite, or
    ``postgresql://``); None: the one beside the session store (a store with a
    ``usage_ledger()``, PostgreSQL or SQLite, gives its own; else the file at its ``path``,
    else memory)."""
    if ledger is not None and not isinstance(ledger, str):
        return ledger
    from copass_router.store._usage_sqlite import SQLiteUsageLedger

    if ledger is None:
        beside: Any = getattr(store, "usage_ledger", None)
        if callable(beside):
            own: UsageLedger = beside()
            return own
        ledger = SQLiteUsageLedger.url_beside(getattr(store, "path", None))
    if ledger.startswith(("postgresql://", "postgres://")):
        from copass_router.store import postgres_from_url
        from copass_router.store._usage_postgres import PostgresUsageLedger

        own_store: Any = postgres_from_url(ledger)  # ``?schema=NAME`` as the store's
        return PostgresUsageLedger(own_store, owned=True)
    return SQLiteUsageLedger.from_url(ledger)


class UsageAPI:
    """Mixed into :class:`~copass_router.Router`: its usage ledger (opened on first use)."""

    _ledger_arg: UsageLedger | str | None
    _ledger: UsageLedger | None

    @property
    def store(self) -> SessionStore:
        raise NotImplementedError

    @property
    def ledger(self) -> UsageLedger:
        """The usage ledger (opened on first use)."""
        if self._ledger is None:
            arg = self._ledger_arg
            self._ledger = open_ledger(arg, self.store if arg is None else None)
        return self._ledger

    async def usage(
        self,
        *,
        tenant: str | None = None,
        end_user_id: str | None = None,
        since: dt.date | None = None,
        until: dt.date | None = None,
    ) -> list[UsageRow]:
        """Rows of the usage ledger (per tenant, end user, provider, model and day)."""
        return await self.ledger.query(
            tenant=tenant, end_user_id=end_user_id, since=since, until=until
        )
