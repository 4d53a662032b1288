"""Engine, sessions and migrations: the only place that knows which database we run on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from foi_mailbot.errors import ConfigError, TransientError

MIGRATIONS = Path(__file__).with_name("migrations")
PAGE_SIZE = 16384
"""SQLite page size of a new database file (existing files keep theirs)."""


def _sqlite_pragmas(synchronous: str) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # WAL lets readers (the CLI, health checks) run beside the daemon; FULL makes each
        # commit durable, which "nothing lost" needs; busy_timeout rides out short write locks.
        cursor = dbapi_connection.cursor()
        # Set before the file's first table (a no-op after): a stored message is a chain of
        # pages, and every page is a write of its own into the log at each commit.
        cursor.execute(f"PRAGMA page_size={PAGE_SIZE}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return on_connect


def make_engine(url: str, *, fsync: bool = True) -> Engine:
    """An engine for a SQLAlchemy URL; SQLite files get their directory and pragmas.

    `fsync=False` (SQLite only) gives commits that survive the process being killed but not
    a power cut: WAL with synchronous=NORMAL, about ten times quicker. Only for records that
    must be written at once and can be redone after a power cut: a message's claim and
    outcome (`Pipeline.quick_factory`). Its transactions are the writer's (`_writer`).
    SQLite copies its log back into the database file itself (its automatic checkpoint).
    """
    try:
        parsed = make_url(url)
    except Exception as exc:
        msg = "database.url is not a database URL (e.g. postgresql+psycopg://user@host/db)"
        raise ConfigError(msg) from exc
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        if (database := sqlite_file(url)) is not None:
            database.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 30})
        pragmas = _sqlite_pragmas("FULL" if fsync else "NORMAL")
        event.listen(engine, "connect", pragmas)
        if not fsync:
            _writer(engine)
        return engine
    return create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=5)


def _writer(engine: Engine) -> None:
    """SQLite transactions begun by SQLAlchemy, not by the driver, and IMMEDIATE.

    The driver begins a transaction only at the first write, so a SAVEPOINT before it begins
    one of its own that its RELEASE commits. IMMEDIATE takes the write lock at the start: a
    transaction that reads first can never fail to become a writer because another process
    wrote in between (readers are not held up: WAL).
    """

    def no_driver_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    def begin_immediate(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    event.listen(engine, "connect", no_driver_transactions)
    event.listen(engine, "begin", begin_immediate)


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for another database or one in memory."""
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - make_engine says what is wrong with it
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded values after commit (so callers can log them)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration pointing at the packaged migrations and this engine."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Apply every pending migration (safe to run at every start)."""
    try:
        command.upgrade(alembic_config(engine), "head")
    except SQLAlchemyError as exc:
        msg = f"the database could not be migrated: {exc.__class__.__name__}: {exc.args[0]}"
        raise TransientError(msg) from exc


def ping(engine: Engine) -> None:
    """Raise TransientError unless the database answers."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        msg = f"the database does not answer: {exc.__class__.__name__}"
        raise TransientError(msg) from exc
