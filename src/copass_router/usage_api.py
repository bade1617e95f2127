"""The usage part of the Router's API: the ledger of model calls and what it reports."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from .store import SessionStore, default_store_url
from .store.usage_sqlite import open_ledger
from .usage import UsageLedger, UsageRow


class UsageAPI:
    """Mixed into :class:`~copass_router.Router`: its usage ledger (opened on first use)."""

    environ: Mapping[str, str]
    _store_arg: SessionStore | str | None
    _ledger_arg: UsageLedger | str | None
    _ledger: UsageLedger | None

    @property
    def ledger(self) -> UsageLedger:
        """The usage ledger (opened on first use)."""
        if self._ledger is None:
            store = self._store_arg
            if store is None:
                store = default_store_url(self.environ)
            self._ledger = open_ledger(self._ledger_arg, store)
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
