"""The SQLite store's file: private permissions, connection settings and versioned migrations."""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from copass_router._errors import ConfigurationError

#: Seconds a writer waits for another process's write lock before SQLite gives up.
BUSY_TIMEOUT = 15.0

_V1 = """
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    end_user_id TEXT NOT NULL,
    turn_count INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (end_user_id, updated_at);
CREATE TABLE IF NOT EXISTS turns (
    session_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (session_id, idx)
);
CREATE TABLE IF NOT EXISTS bindings (
    session_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    native_id TEXT NOT NULL,
    synced_turns INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (session_id, provider)
);
CREATE TABLE IF NOT EXISTS resources (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (namespace, key)
);
"""

# Leases: a turn claims its session (lease_token is the fencing token, lease_expires when the
# claim lapses, NULL when no turn runs). Turns left running by the old schema had no claim:
# they are interrupted.
_V2 = """
ALTER TABLE sessions ADD COLUMN lease_token INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN lease_expires REAL;
ALTER TABLE turns ADD COLUMN status TEXT NOT NULL DEFAULT 'completed';
UPDATE turns SET status = coalesce(json_extract(body, '$.status'), 'completed');
UPDATE turns SET status = 'interrupted', body = json_set(body, '$.status', 'interrupted')
    WHERE status = 'running';
"""

# Blobs: the bytes of message parts (images, files), once per end user (store/_blobs_sqlite.py).
_V3 = """
CREATE TABLE IF NOT EXISTS blobs (
    end_user_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    tenant TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    data BLOB NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (end_user_id, sha256)
);
CREATE INDEX IF NOT EXISTS blobs_by_tenant ON blobs (tenant);
"""

MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3)


def private_file(path: Path) -> None:
    """Create the store's file (0600) if missing, and its directory (0700) when that is the
    default data directory; tighten an old file. A path of the operator's own whose directory
    does not exist is an error (a typo must not create directories anywhere)."""
    ensure_directory(path)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    tighten(path)


def ensure_directory(path: Path) -> None:
    """Create ``path``'s directory (0700) if it is, or is under, the default data directory;
    else raise :class:`ConfigurationError` when it does not exist."""
    missing: list[Path] = []
    parent = path.parent
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    if not missing:
        return
    import platformdirs

    home = Path(platformdirs.user_data_dir("copass-router")).absolute()
    wanted = path.parent.absolute()
    if wanted != home and home not in wanted.parents:
        raise ConfigurationError(
            f"the directory {path.parent} of the SQLite file {path} does not exist: create it "
            f"(mkdir -p {path.parent}) or choose another path (COPASS_ROUTER_STORE)"
        )
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=0o700)


def tighten(path: Path) -> None:
    """0600 for the database and its -wal/-shm files (SQLite copies the database's mode to
    the files it creates beside it, so this matters for files made by older versions)."""
    for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            if candidate.stat().st_mode & 0o077:
                candidate.chmod(0o600)


def connect(path: str) -> tuple[sqlite3.Connection, list[int]]:
    """A connection in autocommit mode (transactions are explicit), migrated to the latest
    schema, and the migrations this applied. Safe when processes open a new file at once."""
    on_disk = path != ":memory:"
    if on_disk:
        private_file(Path(path))
    conn = sqlite3.connect(
        path, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT
    )
    if on_disk:
        write_ahead_log(conn)
    applied = migrate(conn)
    if on_disk:
        tighten(Path(path))
    return conn, applied


def write_ahead_log(conn: sqlite3.Connection) -> None:
    """Put the file in WAL mode (readers never wait for the writer), with NORMAL syncing.

    Two processes switching a new file at the same moment: one of them gets "database is
    locked" at once, whatever the busy timeout. It looks again: the other has switched the
    file (done), or it tries again until the busy timeout.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                break
            time.sleep(random.uniform(0.005, 0.05))
    conn.execute("PRAGMA synchronous=NORMAL")


def migrate(conn: sqlite3.Connection) -> list[int]:
    """Apply the migrations this file has not seen (``PRAGMA user_version`` counts them);
    returns the versions applied."""
    if conn.execute("PRAGMA user_version").fetchone()[0] >= len(MIGRATIONS):
        return []
    with immediate(conn):
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for script in MIGRATIONS[version:]:
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
    return list(range(version + 1, len(MIGRATIONS) + 1))


@contextlib.contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction that takes the write lock at its start, so two processes never
    both read a session and then both write it."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
