"""SQLite's write-ahead log copied back into the database file by a thread of its own.

By default the connection whose commit takes the log past 1,000 pages (4 MB) copies it back,
inside that commit: in a backlog, the mail loop, every batch or two it stores (about a tenth
of storing a message). The daemon leaves that to this thread, woken by its commits, on a
connection of its own, while the loop goes on: SQLite releases Python's lock while it works,
so the copy runs on the other core. The loop's connections still copy the log themselves
past `FALLBACK_PAGES`, should this thread fall behind or stop.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Final

import structlog
from sqlalchemy import Engine, event

log = structlog.get_logger(__name__)

FALLBACK_PAGES: Final = 8000
"""Log pages past which a committing connection checkpoints anyway (32 MB of 4 KB pages)."""


class Checkpointer:
    """Runs a passive checkpoint after commits (`follow`), at most once every `every` seconds;
    an idle daemon's thread sleeps until the next commit."""

    def __init__(self, database: Path, every: float = 0.2) -> None:
        self.database = database
        self.every = every
        self.runs = 0
        self._due = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def follow(self, engine: Engine) -> None:
        """Checkpoint after the commits of `engine`'s connections."""
        event.listen(engine, "commit", lambda _connection: self.nudge())

    def nudge(self) -> None:
        """Something was committed: checkpoint soon."""
        self._due.set()

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait for it (a checkpoint in progress finishes)."""
        self._stop.set()
        self._due.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        failed = False
        # Passive: copies what no reader still needs and never waits for, or blocks, a writer.
        with sqlite3.connect(self.database, timeout=0, check_same_thread=False) as db:
            while self._due.wait() and not self._stop.is_set():
                self._due.clear()
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:
                    if not failed:  # once: the loop's own connections take over meanwhile
                        log.warning("checkpoint.failed", error=str(exc))
                    failed = True
                else:
                    failed = False
                    self.runs += 1
                self._stop.wait(self.every)  # commits meanwhile are copied at the next run
        db.close()
