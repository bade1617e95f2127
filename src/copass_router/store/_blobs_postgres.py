"""The PostgreSQL store's blob table: the bytes of message parts, per end user, under a quota.

Keeping a message's blobs is one server-side function (one round trip, one transaction): it
takes a transaction lock per tenant, so two workers adding at once cannot both pass a quota.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from copass_router.content._blobs import Blob, PartPolicy, PartQuotaError

# {s} is the quoted schema name (see _postgres_schema.MIGRATIONS).
BLOBS_SCHEMA = """
CREATE TABLE {s}.blobs (
    end_user_id text NOT NULL,
    sha256 text NOT NULL,
    tenant text NOT NULL,
    media_type text NOT NULL,
    size bigint NOT NULL,
    data bytea NOT NULL,
    created_at double precision NOT NULL,
    PRIMARY KEY (end_user_id, sha256)
);
CREATE INDEX blobs_by_tenant ON {s}.blobs (tenant);

CREATE FUNCTION {s}.put_blobs(
    p_tenant text, p_end_user text, p_hashes text[], p_types text[], p_datas bytea[],
    p_user_quota bigint, p_tenant_quota bigint,
    OUT o_outcome text, OUT o_kept bigint, OUT o_adding bigint, OUT o_quota bigint
) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('copass_router.blobs:{s}:' || p_tenant));
    SELECT COALESCE(SUM(octet_length(n.data)), 0) INTO o_adding
      FROM unnest(p_hashes, p_datas) AS n(sha256, data)
     WHERE NOT EXISTS (SELECT 1 FROM {s}.blobs b
                        WHERE b.end_user_id = p_end_user AND b.sha256 = n.sha256);
    o_outcome := 'kept';
    IF o_adding = 0 THEN
        RETURN;
    END IF;
    SELECT COALESCE(SUM(b.size), 0) INTO o_kept FROM {s}.blobs b WHERE b.end_user_id = p_end_user;
    IF o_kept + o_adding > p_user_quota THEN
        o_outcome := 'end user'; o_quota := p_user_quota;
        RETURN;
    END IF;
    SELECT COALESCE(SUM(b.size), 0) INTO o_kept FROM {s}.blobs b WHERE b.tenant = p_tenant;
    IF o_kept + o_adding > p_tenant_quota THEN
        o_outcome := 'tenant'; o_quota := p_tenant_quota;
        RETURN;
    END IF;
    INSERT INTO {s}.blobs (end_user_id, sha256, tenant, media_type, size, data, created_at)
    SELECT p_end_user, n.sha256, p_tenant, n.media_type, octet_length(n.data), n.data, {s}.epoch()
      FROM unnest(p_hashes, p_types, p_datas) AS n(sha256, media_type, data)
    ON CONFLICT (end_user_id, sha256) DO NOTHING;
END $$;
"""


async def put_blobs(
    db: Any, s: str, tenant: str, end_user_id: str, blobs: Sequence[Blob], quota: PartPolicy
) -> None:
    """Keep ``blobs`` after checking both quotas (one statement)."""
    row = await db.fetchrow(
        f"SELECT * FROM {s}.put_blobs($1, $2, $3, $4, $5, $6, $7)",
        tenant,
        end_user_id,
        [b.sha256 for b in blobs],
        [b.media_type for b in blobs],
        [b.data for b in blobs],
        quota.end_user_bytes,
        quota.tenant_bytes,
    )
    if row["o_outcome"] != "kept":
        raise PartQuotaError(row["o_outcome"], row["o_kept"], row["o_adding"], row["o_quota"])


async def get_blobs(db: Any, s: str, end_user_id: str, hashes: Sequence[str]) -> dict[str, Blob]:
    """The blobs of ``end_user_id`` among ``hashes`` (one statement)."""
    if not hashes:
        return {}
    rows = await db.fetch(
        f"SELECT sha256, media_type, data FROM {s}.blobs "
        "WHERE end_user_id = $1 AND sha256 = ANY($2::text[])",
        end_user_id,
        list(hashes),
    )
    return {r[0]: Blob(r[0], r[1], bytes(r[2])) for r in rows}


async def prune_blobs(db: Any, s: str, end_user_id: str, before: float) -> int:
    """Delete the blobs of ``end_user_id`` kept before ``before`` that no turn of theirs
    refers to any more (one statement); how many went."""
    status: str = await db.execute(
        f"DELETE FROM {s}.blobs b WHERE b.end_user_id = $1 AND b.created_at < $2 "
        f"AND NOT EXISTS (SELECT 1 FROM {s}.sessions x JOIN {s}.turns t "
        "ON t.session_id = x.session_id, "
        "jsonb_array_elements(COALESCE(t.body::jsonb -> 'parts', '[]'::jsonb)) p "
        "WHERE x.end_user_id = $1 AND p ->> 'sha256' = b.sha256)",
        end_user_id,
        before,
    )
    return int(status.split()[-1])
