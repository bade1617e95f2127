"""A PostgreSQL store for several workers sharing sessions (``pip install
'copass-router[postgres]'``; ``COPASS_ROUTER_STORE=postgresql://user@host/db``).

asyncpg with its pool. Every method is one statement, so one round trip once the connection
has prepared it; a turn's start and end are server-side functions (see postgres_schema.py)
that lock the session row, which is how two workers never write one turn index.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attrs

from copass_router._errors import ConfigurationError, SessionBusyError, SessionNotFoundError
from copass_router._logs import scrub
from copass_router._outages import StoreUnavailableError, masked_url
from copass_router._types import Binding, SessionInfo, TranscriptTurn, TurnStatus
from copass_router._wire import dumps, turn_from_json, turn_to_json
from copass_router.store import _blobs_postgres as blob_sql
from copass_router.store._base import LEASE_SECONDS, TurnStart
from copass_router.store._postgres_schema import migrate, quoted_schema

if TYPE_CHECKING:
    from copass_router.content._blobs import Blob, PartPolicy
    from copass_router.content._parts import Part
    from copass_router.store._usage_postgres import PostgresUsageLedger

_OWN_PARAMS = ("schema", "lease_seconds", "pool_size")


def _turn(index: int, status: str, body: str) -> TranscriptTurn:
    """A stored turn; the row's index and status win over the body's copies."""
    turn = turn_from_json(body)
    if turn.index != index or turn.status.value != status:
        from attrs import evolve

        turn = evolve(turn, index=index, status=TurnStatus(status))
    return turn


async def _keep(conn: Any) -> None:
    """Pool release without the default reset query (an extra round trip per call): no
    method leaves a transaction, listener or session setting behind."""
    if conn.is_in_transaction():  # only after a cancelled call
        await conn.execute("ROLLBACK")


class PostgresStore:
    """A :class:`SessionStore` on PostgreSQL; migrations are applied on first use.

    :param dsn: a ``postgresql://`` URL; ``?schema=NAME`` (default ``copass_router``),
        ``?lease_seconds=N`` and ``?pool_size=N`` are read here, the rest goes to asyncpg.
    """

    def __init__(self, dsn: str, *, schema: str | None = None, lease_seconds: float | None = None):
        parts = urlsplit(dsn)
        query = dict(parse_qsl(parts.query))
        own = {k: query.pop(k) for k in _OWN_PARAMS if k in query}
        self.dsn = urlunsplit(parts._replace(query=urlencode(query)))
        self.schema = schema or own.get("schema", "copass_router")
        try:
            self._s = quoted_schema(self.schema)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        #: The URL as errors show it (password masked).
        self.shown_url = masked_url(self.dsn)
        try:
            self.lease_seconds = lease_seconds or float(own.get("lease_seconds", LEASE_SECONDS))
            self._pool_size = int(own.get("pool_size", 10))
        except ValueError:
            raise ConfigurationError(
                f"session store {self.shown_url}: pool_size must be a whole number and "
                "lease_seconds a number; fix COPASS_ROUTER_STORE"
            ) from None
        self._pool: Any = None
        self._opening = asyncio.Lock()

    async def _db(self) -> Any:
        if self._pool is None:
            async with self._opening:
                if self._pool is None:
                    await self.migrate()
                    import asyncpg

                    self._pool = await asyncpg.create_pool(
                        self.dsn, min_size=1, max_size=self._pool_size, reset=_keep
                    )
        return self._pool

    async def pool(self) -> Any:
        """The asyncpg pool (opened, and the schema migrated, on first use); the usage ledger
        beside this store shares it."""
        return await self._db()

    def usage_ledger(self) -> PostgresUsageLedger:
        """The usage ledger in this store's schema, on this store's pool: every worker on this
        database reads and writes the same ledger (the router uses it when this is its store)."""
        from copass_router.store._usage_postgres import PostgresUsageLedger

        return PostgresUsageLedger(self)

    async def migrate(self) -> list[int]:
        """Apply pending migrations now; returns the versions applied."""
        try:
            import asyncpg
        except ImportError:
            raise ConfigurationError(
                "the PostgreSQL store needs asyncpg: pip install 'copass-router[postgres]'"
            ) from None
        conn = await self._connect(asyncpg)
        try:
            return await migrate(conn, self.schema)
        finally:
            await conn.close()

    async def _connect(self, asyncpg: Any) -> Any:
        """A connection, or an error saying the cause and what fixes it: a database or role
        that does not exist is configuration (named with the URL, password masked, which a
        hosted router keeps in its log), not an outage."""
        shown = self.shown_url
        try:
            return await asyncpg.connect(self.dsn)
        except asyncpg.InvalidCatalogNameError as exc:
            raise ConfigurationError(
                f"session store {shown}: {scrub(str(exc))}; create it (createdb) or fix "
                "COPASS_ROUTER_STORE"
            ) from None
        except (
            asyncpg.InvalidAuthorizationSpecificationError,
            asyncpg.InvalidPasswordError,
        ) as exc:
            raise ConfigurationError(
                f"session store {shown}: {scrub(str(exc))}; fix the user or password in "
                "COPASS_ROUTER_STORE"
            ) from None
        except (OSError, TimeoutError) as exc:
            # No URL here: a hosted router tells this one to its callers.
            raise StoreUnavailableError(
                f"the session store failed to answer ({type(exc).__name__}); retry when it is back"
            ) from None

    # -- a turn: two calls -------------------------------------------------------------------

    async def begin_turn(
        self,
        *,
        session_id: str | None,
        end_user_id: str,
        run_id: str,
        provider: str,
        model: str,
        user: str,
        with_binding: bool,
        parts: Sequence[Part] = (),
        new_session_id: str | None = None,
    ) -> TurnStart:
        sid = session_id or new_session_id or f"ses_{uuid.uuid4().hex}"
        draft = TranscriptTurn(0, run_id, provider, model, user, parts=tuple(parts))
        row = await (await self._db()).fetchrow(
            f"SELECT * FROM {self._s}.begin_turn($1, $2, $3, $4, $5, $6, $7)",
            sid,
            end_user_id,
            session_id is None,
            turn_to_json(draft),
            provider,
            with_binding,
            self.lease_seconds,
        )
        if row["o_outcome"] == "not_found":
            raise SessionNotFoundError(sid)
        if row["o_outcome"] == "busy":
            raise SessionBusyError(sid)
        index, first = row["o_index"], row["o_first"]
        binding = None
        if row["o_native_id"] is not None:
            data = json.loads(row["o_data"])
            binding = Binding(row["o_native_id"], row["o_synced"], data)
        history = tuple(
            _turn(first + i, status, body)
            for i, (status, body) in enumerate(zip(row["o_statuses"], row["o_bodies"], strict=True))
        )
        return TurnStart(
            session=SessionInfo(sid, end_user_id, index + 1, row["o_created"], row["o_now"]),
            turn=attrs.evolve(draft, index=index),
            binding=binding,
            history=history,
            lease=row["o_lease"],
            lease_seconds=self.lease_seconds,
        )

    async def finish_turn(
        self,
        session_id: str,
        turn: TranscriptTurn,
        lease: int,
        binding: tuple[str, Binding] | None = None,
    ) -> bool:
        provider, b = binding if binding else (None, None)
        kept: bool = await (await self._db()).fetchval(
            f"SELECT {self._s}.finish_turn($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            session_id,
            turn.index,
            lease,
            turn.status.value,
            turn_to_json(turn),
            provider,
            b.native_id if b else None,
            b.synced_turns if b else None,
            dumps(b.data) if b else None,
        )
        return kept

    async def renew_lease(self, session_id: str, lease: int) -> bool:
        renewed = await (await self._db()).fetchval(
            f"UPDATE {self._s}.sessions SET lease_expires = {self._s}.epoch() + $3 "
            "WHERE session_id = $1 AND lease_token = $2 AND lease_expires IS NOT NULL "
            "RETURNING 1",
            session_id,
            lease,
            self.lease_seconds,
        )
        return renewed == 1

    # -- sessions ----------------------------------------------------------------------------

    async def create_session(self, end_user_id: str) -> SessionInfo:
        sid = f"ses_{uuid.uuid4().hex}"
        now = await (await self._db()).fetchval(
            f"INSERT INTO {self._s}.sessions (session_id, end_user_id, created_at, updated_at) "
            f"SELECT $1, $2, now.t, now.t FROM (SELECT {self._s}.epoch() AS t) now "
            "RETURNING created_at",
            sid,
            end_user_id,
        )
        return SessionInfo(sid, end_user_id, 0, now, now)

    async def get_session(self, session_id: str, end_user_id: str) -> SessionInfo | None:
        row = await (await self._db()).fetchrow(
            f"SELECT session_id, end_user_id, turn_count, created_at, updated_at "
            f"FROM {self._s}.sessions WHERE session_id = $1 AND end_user_id = $2",
            session_id,
            end_user_id,
        )
        return SessionInfo(*row) if row else None

    async def list_sessions(
        self, end_user_id: str | None = None, limit: int = 50
    ) -> list[SessionInfo]:
        rows = await (await self._db()).fetch(
            f"SELECT session_id, end_user_id, turn_count, created_at, updated_at "
            f"FROM {self._s}.sessions WHERE $1::text IS NULL OR end_user_id = $1 "
            "ORDER BY updated_at DESC LIMIT $2",
            end_user_id,
            limit,
        )
        return [SessionInfo(*r) for r in rows]

    async def delete_session(self, session_id: str, end_user_id: str) -> bool:
        outcome = await (await self._db()).fetchval(
            f"SELECT {self._s}.delete_session($1, $2)", session_id, end_user_id
        )
        if outcome == "busy":
            raise SessionBusyError(session_id)
        return bool(outcome == "deleted")

    async def load_turns(self, session_id: str, start: int = 0) -> list[TranscriptTurn]:
        rows = await (await self._db()).fetch(
            f"SELECT * FROM {self._s}.load_turns($1, $2)", session_id, start
        )
        return [_turn(index, status, body) for index, status, body in rows]

    # -- the bytes of message parts -----------------------------------------------------------

    async def put_blobs(
        self, tenant: str, end_user_id: str, blobs: Sequence[Blob], quota: PartPolicy
    ) -> None:
        """Keep the bytes of message parts (see ``content._blobs.BlobStore``)."""
        await blob_sql.put_blobs(await self._db(), self._s, tenant, end_user_id, blobs, quota)

    async def get_blobs(self, end_user_id: str, hashes: Sequence[str]) -> dict[str, Blob]:
        """Read back the bytes of message parts by their sha256."""
        return await blob_sql.get_blobs(await self._db(), self._s, end_user_id, hashes)

    async def prune_blobs(self, end_user_id: str, before: float) -> int:
        """Delete blobs kept before ``before`` that no turn of the end user refers to."""
        return await blob_sql.prune_blobs(await self._db(), self._s, end_user_id, before)

    # -- bindings and resources --------------------------------------------------------------

    async def get_binding(self, session_id: str, provider: str) -> Binding | None:
        row = await (await self._db()).fetchrow(
            f"SELECT native_id, synced_turns, data FROM {self._s}.bindings "
            "WHERE session_id = $1 AND provider = $2",
            session_id,
            provider,
        )
        return Binding(row[0], row[1], json.loads(row[2])) if row else None

    async def put_binding(self, session_id: str, provider: str, binding: Binding) -> None:
        await (await self._db()).execute(
            f"INSERT INTO {self._s}.bindings VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (session_id, provider) DO UPDATE SET native_id = excluded.native_id, "
            "synced_turns = excluded.synced_turns, data = excluded.data",
            session_id,
            provider,
            binding.native_id,
            binding.synced_turns,
            dumps(binding.data),
        )

    async def get_resource(self, namespace: str, key: str) -> dict[str, Any] | None:
        raw = await (await self._db()).fetchval(
            f"SELECT value FROM {self._s}.resources WHERE namespace = $1 AND key = $2",
            namespace,
            key,
        )
        return json.loads(raw) if raw is not None else None

    async def put_resource(self, namespace: str, key: str, value: Mapping[str, Any]) -> None:
        await (await self._db()).execute(
            f"INSERT INTO {self._s}.resources VALUES ($1, $2, $3) "
            "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value",
            namespace,
            key,
            dumps(value),
        )

    async def delete_resource(self, namespace: str, key: str) -> None:
        await (await self._db()).execute(
            f"DELETE FROM {self._s}.resources WHERE namespace = $1 AND key = $2", namespace, key
        )

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()
