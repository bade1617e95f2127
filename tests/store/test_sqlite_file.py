"""The SQLite file: private permissions, and databases written by earlier versions."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

import pytest

from copass_router import Router, SQLiteStore, TurnStatus
from copass_router.store._sqlite_schema import MIGRATIONS


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_file_is_0600_in_a_0700_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The data directory is created when missing (a path of the operator's own is not).
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "new"))
    db = tmp_path / "new" / "copass-router" / "sessions.db"
    router = Router(store=f"sqlite:///{db}", load_entry_points=False, environ={})
    await router.complete(provider="echo", message="secret transcript")
    files = [db, db.with_name("sessions.db-wal"), db.with_name("sessions.db-shm")]
    assert all(f.exists() for f in files)  # the WAL files are open while the router is
    assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    assert mode(db.parent) == mode(db.parent.parent) == 0o700
    await router.aclose()


async def test_an_old_world_readable_file_is_tightened(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    sqlite3.connect(db).close()
    db.chmod(0o644)
    store = SQLiteStore(db)
    await store.list_sessions()
    assert mode(db) == 0o600
    await store.close()


async def test_a_file_from_before_leases_is_migrated(tmp_path: Path) -> None:
    """The old schema, with a turn its crashed process left running forever."""
    db = tmp_path / "sessions.db"
    conn = sqlite3.connect(db)
    conn.executescript(MIGRATIONS[0])
    conn.execute("INSERT INTO sessions VALUES ('ses_old', 'u', 2, 1.0, 2.0)")
    for idx, status in ((0, "completed"), (1, "running")):
        body = {
            "index": idx, "run_id": f"r{idx}", "provider": "echo", "model": "echo-1",
            "user": f"old {idx}", "items": [], "status": status, "stop_reason": None,
            "usage": {"input_tokens": 0, "output_tokens": 0, "cache_read_tokens": 0,
                      "cache_write_tokens": 0},
            "provider_data": {},
        }  # fmt: skip
        conn.execute("INSERT INTO turns VALUES ('ses_old', ?, ?)", (idx, json.dumps(body)))
    conn.commit()
    conn.close()

    router = Router(store=f"sqlite:///{db}", load_entry_points=False, environ={})
    result = await router.complete(
        provider="echo", message="/recall", session_id="ses_old", end_user_id="u"
    )
    assert "user: old 0" in result.text
    turns = await router.transcript("ses_old", "u")
    assert [(t.index, t.status) for t in turns] == [
        (0, TurnStatus.COMPLETED),
        (1, TurnStatus.INTERRUPTED),
        (2, TurnStatus.COMPLETED),
    ]
    await router.aclose()
    version = sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0]
    assert version == len(MIGRATIONS)
