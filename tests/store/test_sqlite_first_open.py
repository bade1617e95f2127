"""Workers that open a new SQLite file at the same moment all get a working store: switching
the file to WAL refuses all but one of them at once ("database is locked", no busy wait), and
those find the file switched or try again."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path

from copass_router.store._sqlite_schema import connect


def test_three_workers_opening_a_new_file_at_once_all_get_it(tmp_path: Path) -> None:
    failures: list[BaseException] = []

    def open_file(path: Path, start: threading.Barrier) -> None:
        start.wait()
        try:
            conn, _ = connect(str(path))
        except BaseException as exc:
            failures.append(exc)
            return
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()

    # A few hundred fresh files: the race is narrow, and each try is a few milliseconds.
    for attempt in range(500):
        path = tmp_path / f"race-{attempt}.db"
        start = threading.Barrier(3)
        workers = [threading.Thread(target=open_file, args=(path, start)) for _ in range(3)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        with contextlib.closing(sqlite3.connect(path)) as check:
            assert check.execute("PRAGMA user_version").fetchone()[0] > 0
    assert failures == []
