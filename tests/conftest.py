"""Shared fixtures: settings in a temporary folder, a database (SQLite or PostgreSQL), a clock."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from foi_mailbot.clock import FixedClock
from foi_mailbot.settings import Settings

pytest_plugins = ["tests.servers.dovecot", "tests.servers.smtp_sink", "tests.servers.oauth_endpoint"]

PG_URL = os.environ.get(
    "FOI_MAILBOT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
FIXTURES = Path(__file__).parent / "fixtures"
SECRET = "test-secret"


def in_ci() -> bool:
    """True under CI (`CI` set to anything but empty, 0 or false), where nothing may be skipped."""
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No FOI_MAILBOT_ variable from the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("FOI_MAILBOT_") and name != "FOI_MAILBOT_TEST_PG":
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Take away the log handlers a test's commands installed (run, once and ingest do).

    Each writes to the stderr the test runner gave that test, closed once it ends.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def clock() -> FixedClock:
    """A clock tests move by hand: Monday 5 January 2026, 09:00 UTC."""
    return FixedClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))


def pg_schema_url(base: str, schema: str) -> str:
    """A URL whose connections use `schema` first."""
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL private to this test (its own schema, dropped afterwards)."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except DBAPIError as exc:
        reason = f"PostgreSQL not reachable at {PG_URL}: {exc.__class__.__name__}"
        if in_ci():
            # In CI a skipped PostgreSQL test would pass unseen: half the storage layer untested.
            pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)")
        pytest.skip(reason)
    yield pg_schema_url(PG_URL, schema)
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database URL: a SQLite file, or a private PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Build Settings for a test: data in tmp_path, our test organisation, overrides by section."""

    def factory(db: str | None = None, **sections: dict[str, Any]) -> Settings:
        base: dict[str, dict[str, Any]] = {
            "organisation": {
                "name": "Example Council",
                "reference_secret": SECRET,
                "mailbox_address": "foi@example.gov.uk",
                "staff_domains": ["example.gov.uk"],
            },
            "paths": {"data_dir": str(tmp_path / "data")},
            "database": {"url": db} if db else {},
            "mailbox": {"maildir": str(tmp_path / "maildir"), "start": "all"},
            "health": {"port": 0},
        }
        for name, values in sections.items():
            base[name] = {**base.get(name, {}), **values}
        return Settings(**base)  # type: ignore[arg-type]

    return factory


@pytest.fixture
def settings(make_settings: Callable[..., Settings], db_url: str) -> Settings:
    """Settings on the parametrised database."""
    return make_settings(db=db_url)
