"""The daemon's checkpoint thread: SQLite's log copied into the database beside the loop."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from foi_mailbot.bootstrap import build
from foi_mailbot.settings import Settings
from foi_mailbot.storage.checkpoint import FALLBACK_PAGES, Checkpointer


def _autocheckpoint(engine: object) -> int:
    with engine.connect() as connection:  # type: ignore[attr-defined]
        return int(connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar())


def test_the_checkpointer_copies_the_log_into_the_database(tmp_path: Path) -> None:
    """Commits that never checkpoint themselves still reach the database file."""
    path = tmp_path / "data.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA wal_autocheckpoint=0")
    db.execute("CREATE TABLE blob (data BLOB)")
    before = path.stat().st_size
    for _ in range(20):
        db.execute("INSERT INTO blob VALUES (?)", (b"x" * 100_000,))
    assert path.stat().st_size == before  # all of it is still in the log

    checkpointer = Checkpointer(path, every=0.01)
    checkpointer.start()
    try:
        deadline = time.monotonic() + 10
        while checkpointer.runs < 2 and time.monotonic() < deadline:
            checkpointer.nudge()  # as a commit through the daemon's engines does
            time.sleep(0.01)
    finally:
        checkpointer.stop()
        db.close()

    assert checkpointer.runs >= 2
    assert path.stat().st_size >= before + 20 * 100_000


def test_only_the_daemon_leaves_checkpoints_to_the_thread(
    make_settings: Callable[..., Settings],
) -> None:
    """The daemon's connections checkpoint only past the fallback; a command's as SQLite does."""
    settings = make_settings()  # the embedded default: SQLite in the data directory
    daemon = build(settings, with_source=True)
    try:
        assert daemon.checkpointer is not None
        assert FALLBACK_PAGES == _autocheckpoint(daemon.engine)
    finally:
        daemon.close()
    command = build(settings)
    try:
        assert command.checkpointer is None
        assert 1000 == _autocheckpoint(command.engine)
    finally:
        command.close()


def test_an_idle_daemons_checkpointer_sleeps_until_a_commit(
    make_settings: Callable[..., Settings],
) -> None:
    """No commit, no checkpoint (nothing wakes an idle daemon); a commit brings one."""
    app = build(make_settings(), with_source=True)
    try:
        checkpointer = app.checkpointer
        assert checkpointer is not None
        time.sleep(0.3)
        quiet = checkpointer.runs
        with app.engine.begin() as connection:
            connection.exec_driver_sql("PRAGMA user_version = 7")
        deadline = time.monotonic() + 10
        while checkpointer.runs == quiet and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)
        after = checkpointer.runs
    finally:
        app.close()

    assert quiet <= 1  # at most one, for the commits made while the app was built
    assert after == quiet + 1
