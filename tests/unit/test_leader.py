"""One active instance on SQLite: a second process is turned away at once, in plain words."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from foi_mailbot.errors import FoiMailbotError
from foi_mailbot.leader import AlreadyRunning, acquire_leadership, lock_key
from foi_mailbot.storage.db import make_engine

TRY_LOCK = """
import sys, threading
from foi_mailbot.leader import AlreadyRunning, acquire_leadership
from foi_mailbot.storage.db import make_engine
try:
    acquire_leadership(make_engine(sys.argv[1]), stop=threading.Event())
except AlreadyRunning as exc:
    print(exc)
    sys.exit(3)
print("acquired")
"""


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'foi-mailbot.db'}"


def test_the_first_instance_becomes_the_active_one(tmp_path: Path) -> None:
    """An unlocked SQLite database is taken at once, and its lock file names the pid."""
    leadership = acquire_leadership(make_engine(_url(tmp_path)), stop=threading.Event())

    assert leadership.acquired
    assert not leadership.lost()
    assert (tmp_path / "foi-mailbot.db.lock").read_text().strip().isdigit()
    leadership.release()


def test_a_second_instance_on_the_same_sqlite_file_is_refused(tmp_path: Path) -> None:
    """While one instance holds the file, another fails at once with a sentence saying why."""
    engine = make_engine(_url(tmp_path))
    first = acquire_leadership(engine, stop=threading.Event())

    with pytest.raises(AlreadyRunning) as refused:
        acquire_leadership(make_engine(_url(tmp_path)), stop=threading.Event())
    first.release()

    assert isinstance(refused.value, FoiMailbotError)
    assert (
        f"another foi-mailbot is already running on {(tmp_path / 'foi-mailbot.db').resolve()}; "
        "a SQLite database serves one instance (use PostgreSQL for a standby)"
    ) == str(refused.value)


def test_another_process_is_refused_while_the_lock_is_held(tmp_path: Path) -> None:
    """The lock works across processes, which is what two daemons are."""
    held = acquire_leadership(make_engine(_url(tmp_path)), stop=threading.Event())
    refused = subprocess.run([sys.executable, "-c", TRY_LOCK, _url(tmp_path)],
                             check=False, capture_output=True, text=True, timeout=60)
    held.release()
    allowed = subprocess.run([sys.executable, "-c", TRY_LOCK, _url(tmp_path)],
                             check=False, capture_output=True, text=True, timeout=60)

    assert 3 == refused.returncode
    assert "another foi-mailbot is already running" in refused.stdout
    assert 0 == allowed.returncode
    assert allowed.stdout.endswith("acquired\n")


def test_releasing_lets_the_next_instance_in(tmp_path: Path) -> None:
    """After release (a clean shutdown) the file can be locked again; release is idempotent."""
    with acquire_leadership(make_engine(_url(tmp_path)), stop=threading.Event()) as first:
        assert first.acquired
    first.release()
    second = acquire_leadership(make_engine(_url(tmp_path)), stop=threading.Event())

    assert second.acquired
    second.release()


def test_an_in_memory_database_needs_no_lock() -> None:
    """A private in-memory database cannot be shared, so there is nothing to lock."""
    leadership = acquire_leadership(create_engine("sqlite://"), stop=threading.Event())

    assert leadership.acquired and not leadership.lost()


def test_the_postgresql_lock_key_is_per_schema_and_fits_int4() -> None:
    """Registers in different schemas never block each other; both halves are valid int4."""
    keys = {lock_key(schema) for schema in ("public", "foi", "t_0123456789ab")}

    assert 3 == len(keys)
    assert all(0 <= half < 2**31 for key in keys for half in key)
    assert lock_key("public") == lock_key("public")
