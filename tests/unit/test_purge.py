"""Retention: old, finished raw bodies go; cases, header data and unfinished mail stay."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

import foi_mailbot.cli.ops  # noqa: F401 - registers `status` and `purge`
from foi_mailbot.bootstrap import App, build
from foi_mailbot.cli.common import app as cli
from foi_mailbot.clock import FixedClock
from foi_mailbot.errors import UsageError
from foi_mailbot.ingest import store
from foi_mailbot.purge import purge_raw
from foi_mailbot.settings import Settings
from foi_mailbot.sources import RawMail
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import AuditEntry, Case, InboundMessage
from tests.conftest import FIXTURES


def _deliver(app: App, clock: FixedClock, name: str) -> int:
    """Store and process one fixture message as received now; returns its row id."""
    raw = (FIXTURES / name).read_bytes()
    stored = store(app.factory, RawMail(f"test:{name}", "foi@example.gov.uk", "INBOX", 1, 1,
                                        clock.now(), raw, "inbound"), clock)
    app.pipeline.run_pending()
    return stored.message_pk


def _close_case_of(app: App, message_pk: int) -> None:
    with session_scope(app.factory) as session:
        case_id = session.get(InboundMessage, message_pk).case_id  # type: ignore[union-attr]
        session.execute(update(Case).where(Case.id == case_id).values(status="closed"))


def _row(app: App, message_pk: int) -> InboundMessage:
    with session_scope(app.factory) as session:
        row = session.scalars(
            select(InboundMessage).where(InboundMessage.id == message_pk)
        ).one()
        _ = row.body  # load the bytes (a lazy relationship) before the session closes
        return row


@pytest.fixture
def app(settings: Settings, clock: FixedClock) -> Iterator[App]:
    """An application on the parametrised database."""
    built = build(settings, clock=clock)
    yield built
    built.close()


@pytest.fixture
def history(app: App, clock: FixedClock) -> dict[str, int]:
    """Four messages 100 days old (closed, open, needing a person, closed) and one recent one."""
    clock.set(clock.now() - timedelta(days=100))
    ids = {
        "closed": _deliver(app, clock, "new_request_plain_foia.eml"),
        "open": _deliver(app, clock, "new_request_journalist.eml"),
        "needs_person": _deliver(app, clock, "new_request_environmental_trees.eml"),
        "closed_too": _deliver(app, clock, "new_request_scottish_foisa.eml"),
    }
    clock.advance(timedelta(days=95))
    ids["recent"] = _deliver(app, clock, "new_request_wdtk.eml")
    clock.advance(timedelta(days=5))
    for name in ("closed", "closed_too", "needs_person", "recent"):
        _close_case_of(app, ids[name])
    with session_scope(app.factory) as session:
        session.execute(update(InboundMessage).where(InboundMessage.id == ids["needs_person"])
                        .values(needs_person=True))
    return ids


def test_old_finished_messages_lose_only_their_raw_body(
    app: App, clock: FixedClock, history: dict[str, int]
) -> None:
    """Closed cases' old messages are purged; headers, classification and the case remain."""
    before = _row(app, history["closed"])
    result = purge_raw(app.factory, clock, older_than_days=90)
    after = _row(app, history["closed"])

    assert 2 == result.purged
    assert after.body is None
    assert after.raw_purged_at is not None
    assert (before.subject, before.from_email, before.kind, before.case_id, before.size) == (
        after.subject, after.from_email, after.kind, after.case_id, after.size)
    assert before.size + _row(app, history["closed_too"]).size == result.bytes_freed
    with session_scope(app.factory) as session:
        assert session.get(Case, after.case_id) is not None


def test_messages_still_needed_keep_their_body(
    app: App, clock: FixedClock, history: dict[str, int]
) -> None:
    """Open cases, messages waiting for a person and recent messages are untouched."""
    result = purge_raw(app.factory, clock, older_than_days=90)

    for name in ("open", "needs_person", "recent"):
        assert _row(app, history[name]).body is not None, name
    assert (1, 1) == (result.kept_open_case, result.kept_unfinished)


def test_a_purge_writes_one_audit_entry_with_its_counts(
    app: App, clock: FixedClock, history: dict[str, int]
) -> None:
    """Each purge is recorded once, with the cutoff and what it did; a rerun purges nothing."""
    first = purge_raw(app.factory, clock, older_than_days=90)
    second = purge_raw(app.factory, clock, older_than_days=90)
    with session_scope(app.factory) as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "retention.purged")
            .order_by(AuditEntry.id)
        ).all()
        details = [entry.detail or {} for entry in entries]

    assert (2, 0) == (first.purged, second.purged)
    assert [2, 0] == [d["purged"] for d in details]
    assert first.cutoff.isoformat() == details[0]["cutoff"]


def test_a_dry_run_changes_nothing(app: App, clock: FixedClock, history: dict[str, int]) -> None:
    """--dry-run reports the same counts and writes nothing, not even an audit entry."""
    result = purge_raw(app.factory, clock, older_than_days=90, dry_run=True)
    with session_scope(app.factory) as session:
        audits = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "retention.purged")
        ).all()

    assert 2 == result.purged
    assert _row(app, history["closed"]).body is not None
    assert [] == list(audits)


def test_less_than_thirty_days_is_refused(app: App, clock: FixedClock) -> None:
    """A retention under 30 days is refused with a sentence saying so."""
    with pytest.raises(UsageError, match="must be kept for at least 30 days; 10 days is too"):
        purge_raw(app.factory, clock, older_than_days=10)


def _config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "foi-mailbot.toml"
    path.write_text(
        f'[organisation]\nreference_secret = "s"\n[paths]\ndata_dir = "{tmp_path / "data"}"\n'
        f'[database]\nurl = "sqlite:///{tmp_path / "p.db"}"\n{extra}',
        encoding="utf-8",
    )
    return path


def test_the_command_refuses_too_short_a_retention(tmp_path: Path) -> None:
    """`foi-mailbot purge --older-than 7` exits 2 with the reason."""
    result = CliRunner().invoke(cli, ["purge", "--older-than", "7",
                                      "--config", str(_config(tmp_path))])

    assert 2 == result.exit_code
    assert "raw messages must be kept for at least 30 days; 7 days is too short" in result.output


def test_the_command_needs_a_retention_from_somewhere(tmp_path: Path) -> None:
    """Without --older-than or retention.keep_raw_days there is nothing to go by."""
    result = CliRunner().invoke(cli, ["purge", "--config", str(_config(tmp_path))])

    assert 2 == result.exit_code
    assert "give --older-than DAYS, or set retention.keep_raw_days" in result.output


def test_the_command_takes_its_default_from_the_configuration(tmp_path: Path) -> None:
    """retention.keep_raw_days is the default; --dry-run says what would go."""
    config = _config(tmp_path, "[retention]\nkeep_raw_days = 365\n")
    result = CliRunner().invoke(cli, ["purge", "--dry-run", "--config", str(config)])

    assert 0 == result.exit_code, result.output
    assert result.output.startswith("Would delete the raw bodies of 0 messages received before ")
