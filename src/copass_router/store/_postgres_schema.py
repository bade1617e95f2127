"""The PostgreSQL store's schema: versioned migrations, applied under an advisory lock.

Everything lives in one PostgreSQL schema (``copass_router`` unless the URL says
``?schema=NAME``). A turn's start, its end, a session's deletion and reading a transcript are
server-side functions, so each is one statement, one round trip and one transaction; the
session row's lock serialises them, whichever worker calls.
"""

from __future__ import annotations

import re
from typing import Any

from copass_router.store._blobs_postgres import BLOBS_SCHEMA

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")

# {s} is the quoted schema name. Columns idx and status are authoritative over the copies
# inside a turn's JSON body (a crashed turn is marked interrupted without rewriting its body).
_V1 = """
CREATE TABLE {s}.sessions (
    session_id text PRIMARY KEY,
    end_user_id text NOT NULL,
    turn_count integer NOT NULL DEFAULT 0,
    created_at double precision NOT NULL,
    updated_at double precision NOT NULL,
    lease_token bigint NOT NULL DEFAULT 0,
    lease_expires double precision
);
CREATE INDEX sessions_by_user ON {s}.sessions (end_user_id, updated_at DESC);
CREATE INDEX sessions_by_time ON {s}.sessions (updated_at DESC);
CREATE TABLE {s}.turns (
    session_id text NOT NULL REFERENCES {s}.sessions ON DELETE CASCADE,
    idx integer NOT NULL,
    status text NOT NULL,
    body text NOT NULL,
    PRIMARY KEY (session_id, idx)
);
CREATE TABLE {s}.bindings (
    session_id text NOT NULL REFERENCES {s}.sessions ON DELETE CASCADE,
    provider text NOT NULL,
    native_id text NOT NULL,
    synced_turns integer NOT NULL,
    data text NOT NULL,
    PRIMARY KEY (session_id, provider)
);
CREATE TABLE {s}.resources (
    namespace text NOT NULL,
    key text NOT NULL,
    value text NOT NULL,
    PRIMARY KEY (namespace, key)
);

CREATE FUNCTION {s}.epoch() RETURNS double precision LANGUAGE sql VOLATILE
AS $$ SELECT extract(epoch FROM clock_timestamp())::double precision $$;

CREATE FUNCTION {s}.begin_turn(
    p_session text, p_end_user text, p_new boolean, p_body text, p_provider text,
    p_with_binding boolean, p_lease_seconds double precision,
    OUT o_outcome text, OUT o_index integer, OUT o_created double precision,
    OUT o_now double precision, OUT o_lease bigint, OUT o_native_id text,
    OUT o_synced integer, OUT o_data text, OUT o_first integer,
    OUT o_bodies text[], OUT o_statuses text[]
) LANGUAGE plpgsql AS $$
DECLARE
    s record;
BEGIN
    o_now := {s}.epoch();
    o_first := 0;
    IF p_new THEN
        INSERT INTO {s}.sessions (session_id, end_user_id, created_at, updated_at)
        VALUES (p_session, p_end_user, o_now, o_now);
        o_index := 0; o_lease := 1; o_created := o_now;
    ELSE
        SELECT x.turn_count, x.created_at, x.lease_token, x.lease_expires INTO s
          FROM {s}.sessions x
         WHERE x.session_id = p_session AND x.end_user_id = p_end_user
           FOR UPDATE;
        IF NOT FOUND THEN
            o_outcome := 'not_found';
            RETURN;
        END IF;
        IF s.lease_expires IS NOT NULL THEN
            IF s.lease_expires > o_now THEN
                o_outcome := 'busy';
                RETURN;
            END IF;
            UPDATE {s}.turns t SET status = 'interrupted'
             WHERE t.session_id = p_session AND t.idx = s.turn_count - 1
               AND t.status = 'running';
        END IF;
        o_index := s.turn_count; o_lease := s.lease_token + 1; o_created := s.created_at;
    END IF;
    INSERT INTO {s}.turns (session_id, idx, status, body)
    VALUES (p_session, o_index, 'running', p_body);
    UPDATE {s}.sessions x
       SET turn_count = o_index + 1, updated_at = o_now, lease_token = o_lease,
           lease_expires = o_now + p_lease_seconds
     WHERE x.session_id = p_session;
    IF p_with_binding THEN
        SELECT b.native_id, b.synced_turns, b.data INTO o_native_id, o_synced, o_data
          FROM {s}.bindings b WHERE b.session_id = p_session AND b.provider = p_provider;
        o_first := coalesce(o_synced, 0);
    END IF;
    SELECT coalesce(array_agg(t.body ORDER BY t.idx), '{}'),
           coalesce(array_agg(t.status ORDER BY t.idx), '{}')
      INTO o_bodies, o_statuses
      FROM {s}.turns t
     WHERE t.session_id = p_session AND t.idx >= o_first AND t.idx < o_index;
    o_outcome := 'ok';
END $$;

CREATE FUNCTION {s}.finish_turn(
    p_session text, p_index integer, p_lease bigint, p_status text, p_body text,
    p_provider text, p_native_id text, p_synced integer, p_data text
) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    UPDATE {s}.sessions x SET lease_expires = NULL, updated_at = {s}.epoch()
     WHERE x.session_id = p_session AND x.lease_token = p_lease;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE {s}.turns t SET status = p_status, body = p_body
     WHERE t.session_id = p_session AND t.idx = p_index;
    IF p_provider IS NOT NULL THEN
        INSERT INTO {s}.bindings AS b (session_id, provider, native_id, synced_turns, data)
        VALUES (p_session, p_provider, p_native_id, p_synced, p_data)
        ON CONFLICT (session_id, provider) DO UPDATE
           SET native_id = excluded.native_id, synced_turns = excluded.synced_turns,
               data = excluded.data;
    END IF;
    RETURN true;
END $$;

CREATE FUNCTION {s}.delete_session(p_session text, p_end_user text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    expires double precision;
BEGIN
    SELECT x.lease_expires INTO expires FROM {s}.sessions x
     WHERE x.session_id = p_session AND x.end_user_id = p_end_user FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'not_found';
    END IF;
    IF expires IS NOT NULL AND expires > {s}.epoch() THEN
        RETURN 'busy';
    END IF;
    DELETE FROM {s}.sessions x WHERE x.session_id = p_session;
    RETURN 'deleted';
END $$;

CREATE FUNCTION {s}.load_turns(p_session text, p_start integer)
RETURNS TABLE (o_idx integer, o_status text, o_body text) LANGUAGE plpgsql AS $$
DECLARE
    s record;
BEGIN
    SELECT x.turn_count INTO s FROM {s}.sessions x
     WHERE x.session_id = p_session AND x.lease_expires <= {s}.epoch() FOR UPDATE;
    IF FOUND THEN
        UPDATE {s}.turns t SET status = 'interrupted'
         WHERE t.session_id = p_session AND t.idx = s.turn_count - 1 AND t.status = 'running';
        UPDATE {s}.sessions x SET lease_expires = NULL WHERE x.session_id = p_session;
    END IF;
    RETURN QUERY SELECT t.idx, t.status, t.body FROM {s}.turns t
     WHERE t.session_id = p_session AND t.idx >= p_start ORDER BY t.idx;
END $$;
"""

# The usage ledger (store/usage_postgres.py): one row per tenant, end user, provider, model and
# day; text compared bytewise (COLLATE "C") so rows sort as in the SQLite ledger.
_V2 = """
CREATE TABLE {s}.usage_ledger (
    tenant text COLLATE "C" NOT NULL,
    end_user_id text COLLATE "C" NOT NULL,
    provider text COLLATE "C" NOT NULL,
    model text COLLATE "C" NOT NULL,
    day date NOT NULL,
    calls bigint NOT NULL DEFAULT 0,
    input_tokens bigint NOT NULL DEFAULT 0,
    output_tokens bigint NOT NULL DEFAULT 0,
    cache_read_tokens bigint NOT NULL DEFAULT 0,
    cache_write_tokens bigint NOT NULL DEFAULT 0,
    cost_usd numeric NOT NULL DEFAULT 0,
    unpriced_calls bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, end_user_id, day, provider, model)
);
CREATE INDEX usage_by_tenant_day ON {s}.usage_ledger (tenant, day);
"""

# Budget reservations (accounting/_reservations.py): what each budgeted model call in flight may
# spend, held until its usage is recorded; expires_at in the server's epoch seconds.
_V3 = """
CREATE TABLE {s}.usage_reservations (
    id text PRIMARY KEY,
    tenant text COLLATE "C" NOT NULL,
    end_user_id text COLLATE "C" NOT NULL,
    tokens bigint NOT NULL,
    cost_usd numeric NOT NULL,
    expires_at double precision NOT NULL
);
CREATE INDEX reservations_by_tenant ON {s}.usage_reservations (tenant, end_user_id);
"""

#: (version, SQL); append only. A deployed version is never edited.
MIGRATIONS: tuple[tuple[int, str], ...] = ((1, _V1), (2, _V2), (3, _V3), (4, BLOBS_SCHEMA))


def quoted_schema(name: str) -> str:
    """The schema name, checked and quoted for SQL."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"bad schema name {name!r}: lowercase letters, digits and _ only")
    return f'"{name}"'


async def migrate(conn: Any, schema: str) -> list[int]:
    """Apply the migrations ``schema`` has not seen, one transaction, under an advisory lock
    (workers starting together migrate once). Returns the versions applied."""
    s = quoted_schema(schema)
    applied: list[int] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"copass_router:{schema}")
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {s}.schema_migrations "
            "(version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r[0] for r in await conn.fetch(f"SELECT version FROM {s}.schema_migrations")}
        for version, sql in MIGRATIONS:
            if version in done:
                continue
            await conn.execute(sql.replace("{s}", s))
            await conn.execute(f"INSERT INTO {s}.schema_migrations (version) VALUES ($1)", version)
            applied.append(version)
    return applied
