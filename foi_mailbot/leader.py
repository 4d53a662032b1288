"""Operations: exactly one active instance per register, so mail is fetched and answered once.

The daemon calls `acquire_leadership` before its loop and checks `Leadership.lost()` between
cycles. On PostgreSQL the active process holds a session-level advisory lock on a connection of
its own for as long as it lives; a standby retries every `poll` seconds and takes over within
seconds of the active process dying, because the server releases the lock when that connection
closes. On SQLite an exclusive `flock` on `<database file>.lock` lets one process in and turns a
second away at once: a SQLite file serves a single instance.
"""

from __future__ import annotations

import fcntl
import os
import threading
import zlib
from pathlib import Path
from typing import Final

import structlog
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from foi_mailbot.errors import FoiMailbotError

log = structlog.get_logger(__name__)

# First half of the two-part advisory lock key: "FOIB" in ASCII, so it is recognisable in
# pg_locks. The second half is derived from the schema, so registers in different schemas of one
# database (as the tests use) do not block each other.
LOCK_CLASS: Final = 0x464F4942
# Notice a dead server or a cut network within about half a minute even when idle.
_KEEPALIVES: Final = {
    "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
}


class AlreadyRunning(FoiMailbotError):
    """Another instance holds the register, and this database cannot host a standby."""


class Leadership:
    """The right to be the active instance; `acquired` is False if `stop` came first."""

    def __init__(self, *, acquired: bool, where: str) -> None:
        self.acquired = acquired
        self.where = where

    def lost(self) -> bool:
        """True once the lock is gone and the daemon must stop (never, for this base form)."""
        return False

    def release(self) -> None:
        """Give the lock up (idempotent)."""

    def __enter__(self) -> Leadership:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


class PostgresLeadership(Leadership):
    """An advisory lock held by one dedicated, autocommit connection."""

    def __init__(self, engine: Engine, conn: Connection, key: tuple[int, int], where: str) -> None:
        super().__init__(acquired=True, where=where)
        self._engine = engine
        self._conn: Connection | None = conn
        self._key = key
        self._guard = threading.Lock()
        self._lost = False

    def lost(self) -> bool:
        """Ask the server whether this session still holds the lock; any failure means lost."""
        with self._guard:
            if self._lost or self._conn is None:
                return self._lost
            try:
                held = self._conn.execute(
                    text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                         "AND pid = pg_backend_pid() AND granted AND objsubid = 2 "
                         "AND classid::bigint = :c AND objid::bigint = :o"),
                    {"c": self._key[0], "o": self._key[1]},
                ).scalar()
            except DBAPIError as exc:
                held = 0
                log.error("leader.lost", where=self.where, error=exc.__class__.__name__)
            else:
                if not held:
                    log.error("leader.lost", where=self.where, error="lock no longer held")
            self._lost = not held
            return self._lost

    def release(self) -> None:
        """Unlock and close the dedicated connection."""
        with self._guard:
            if self._conn is None:
                return
            try:
                if not self._lost:
                    self._conn.execute(text("SELECT pg_advisory_unlock(:c, :o)"),
                                       {"c": self._key[0], "o": self._key[1]})
            except DBAPIError:
                pass  # the server drops the lock with the session anyway
            finally:
                self._conn.close()
                self._conn = None
                self._engine.dispose()
            log.info("leader.released", where=self.where)


class FileLeadership(Leadership):
    """An exclusive `flock` on a file beside the SQLite database."""

    def __init__(self, fd: int, where: str) -> None:
        super().__init__(acquired=True, where=where)
        self._fd: int | None = fd

    def release(self) -> None:
        """Unlock and close the lock file (the file itself stays; deleting it would race)."""
        if self._fd is None:
            return
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


def lock_key(schema: str) -> tuple[int, int]:
    """The advisory lock key for the register in `schema` (both halves fit a signed int4)."""
    return LOCK_CLASS, zlib.crc32(schema.encode()) & 0x7FFFFFFF


def acquire_leadership(
    engine: Engine, *, stop: threading.Event, poll: float = 1.0
) -> Leadership:
    """Block until this process is the active instance, or `stop` is set (then not acquired)."""
    backend = engine.url.get_backend_name()
    if backend == "sqlite":
        return _lock_file(engine.url.database)
    if backend == "postgresql":
        return _wait_for_advisory_lock(engine, stop, poll)
    log.warning("leader.not_enforced", backend=backend)
    return Leadership(acquired=True, where=backend)


def _lock_file(database: str | None) -> Leadership:
    if not database or database == ":memory:":
        return Leadership(acquired=True, where="memory")
    db_path = Path(database).resolve()
    lock_path = Path(f"{db_path}.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        msg = (f"another foi-mailbot is already running on {db_path}; a SQLite database serves "
               "one instance (use PostgreSQL for a standby)")
        raise AlreadyRunning(msg) from None
    # The pid is for a person looking at the file; the lock itself is what counts.
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    log.info("leader.acquired", where=str(db_path))
    return FileLeadership(fd, str(db_path))


def _try_lock(conn: Connection) -> tuple[bool, tuple[int, int], str]:
    schema = str(conn.execute(text("SELECT current_schema()")).scalar() or "public")
    key = lock_key(schema)
    got = conn.execute(text("SELECT pg_try_advisory_lock(:c, :o)"),
                       {"c": key[0], "o": key[1]}).scalar()
    return bool(got), key, schema


def _wait_for_advisory_lock(engine: Engine, stop: threading.Event, poll: float) -> Leadership:
    # A pool of its own: the lock belongs to one server session, which must never be handed
    # to other work, returned to a pool or left inside a transaction.
    own = create_engine(engine.url, poolclass=NullPool, isolation_level="AUTOCOMMIT",
                        connect_args=dict(_KEEPALIVES))
    where = engine.url.render_as_string(hide_password=True)
    conn: Connection | None = None
    told: str | None = None
    while True:
        try:
            conn = conn if conn is not None else own.connect()
            got, key, schema = _try_lock(conn)
        except DBAPIError as exc:
            if conn is not None:
                conn.close()
            conn, got = None, False
            if told != "unavailable":
                log.warning("leader.database_unavailable", error=exc.__class__.__name__)
                told = "unavailable"
        else:
            if got:
                log.info("leader.acquired", where=where, schema=schema)
                return PostgresLeadership(own, conn, key, f"{where} schema {schema}")
            if told != "standby":
                log.info("leader.standby", where=where, schema=schema, poll_seconds=poll)
                told = "standby"
        if stop.wait(poll):
            if conn is not None:
                conn.close()
            own.dispose()
            return Leadership(acquired=False, where=where)


def instance_running(engine: Engine) -> bool:
    """True while some process is the active instance on this register (holds its lock).

    Takes nothing: on SQLite the lock file is tried and let go at once; on PostgreSQL the
    advisory lock is tried and, if it was free, released in the same breath.
    """
    backend = engine.url.get_backend_name()
    if backend == "sqlite":
        return _file_locked(engine.url.database)
    if backend == "postgresql":
        with engine.connect() as conn:
            got, key, _schema = _try_lock(conn)
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:c, :o)"), {"c": key[0], "o": key[1]})
            conn.rollback()
        return not got
    return False


def _file_locked(database: str | None) -> bool:
    if not database or database == ":memory:":
        return False
    lock_path = Path(f"{Path(database).resolve()}.lock")
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing the descriptor also lets go of a lock it took
    return False
