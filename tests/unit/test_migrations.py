"""Migrations: they build what the models describe, and carry stored messages across."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from foi_mailbot.storage.db import PAGE_SIZE, alembic_config, make_engine, upgrade
from foi_mailbot.storage.models import Base

INSERT_0002 = text(
    "INSERT INTO inbound_message (id, mailbox, folder, direction, arrived_at, stored_at, "
    "content_hash, size, raw, status, attempts, needs_person) VALUES (1, 'foi@example.gov.uk', "
    "'INBOX', 'inbound', '2026-01-05 09:00:00', '2026-01-05 09:00:00', 'abc', 5, :raw, "
    "'applied', 1, false)"
)


def test_the_migrations_build_what_the_models_describe(db_url: str) -> None:
    """No table, column or index is in one and not the other."""
    engine = make_engine(db_url)
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()

    assert [] == diff


def test_upgrading_moves_stored_bytes_to_their_own_table_and_back(db_url: str) -> None:
    """A message stored before the bytes had a table of their own keeps them, both ways."""
    engine = make_engine(db_url)
    config = alembic_config(engine)
    command.upgrade(config, "0002")
    with engine.begin() as conn:
        conn.execute(INSERT_0002, {"raw": b"Hello"})

    command.upgrade(config, "head")
    with engine.connect() as conn:
        moved = conn.execute(text("SELECT message_pk, raw FROM raw_message")).all()
    columns = {c["name"] for c in inspect(engine).get_columns("inbound_message")}
    command.downgrade(config, "0002")
    with engine.connect() as conn:
        back = conn.execute(text("SELECT raw FROM inbound_message")).scalar_one()
    engine.dispose()

    assert [(1, b"Hello")] == [(pk, bytes(raw)) for pk, raw in moved]
    assert "raw" not in columns
    assert b"Hello" == bytes(back)


def test_a_new_sqlite_database_gets_large_pages_and_an_old_one_keeps_its_own(
    tmp_path: Path,
) -> None:
    """Stored messages are page chains: a new file uses 16 KB pages; a file made with 4 KB
    pages opens as it is."""
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as conn:
        conn.execute("PRAGMA page_size=4096")
        conn.execute("CREATE TABLE t (x)")
    for path, expected in ((tmp_path / "new.db", PAGE_SIZE), (old, 4096)):
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        engine.dispose()
        with sqlite3.connect(path) as conn:
            assert expected == conn.execute("PRAGMA page_size").fetchone()[0]
    assert 16384 == PAGE_SIZE
