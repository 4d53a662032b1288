"""A letter held by a person's command stays releasable by email: `new` decided late keeps the
message's item open for `send`, under a fresh token, and what `new` did can still be undone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from foi_mailbot.bootstrap import App, build
from foi_mailbot.cases.lifecycle import State
from foi_mailbot.cli import app as cli
from foi_mailbot.clock import FixedClock
from foi_mailbot.settings import Settings
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import Case, InboundMessage, OutboxMessage, TriageItem
from foi_mailbot.triage.items import ensure_items, open_items
from tests.conftest import FIXTURES
from tests.integration.harness import feed, fixture_mail

MONDAY = datetime(2026, 1, 12, 10, 0, tzinfo=UTC)


def _command(app: App, token: str, command: str, key: str) -> InboundMessage:
    """`command` answering the item with `token`, filed in the Sent folder."""
    raw = (FIXTURES / "triage" / "reply_outlook_command_in_sent.eml").read_bytes()
    raw = raw.replace(b"{TOKEN}", token.encode()).replace(b"{COMMAND}", command.encode())
    return feed(app, raw.replace(b"A1B2C3D4E5F6", key.encode()), key, sent=True)


def _open(app: App) -> list[tuple[str | None, str]]:
    with session_scope(app.factory) as session:
        return [(item.token, item.reason) for item in open_items(session)]


def test_undo_of_new_while_its_letter_is_held_closes_the_case_and_puts_the_message_back(
    settings: Settings,
) -> None:
    """A pothole report that arrived a week before it was read: set aside, then opened by `new`.
    The letter is held and the item stays open for `send` under a new token; `undo` with that
    token closes the case as opened in error, sends nothing, and the message waits again for
    its first reason."""
    app = build(settings, clock=FixedClock(MONDAY))
    row = feed(app, fixture_mail("not_foi_pothole_report.eml"), "1", at=MONDAY - timedelta(7))
    with session_scope(app.factory) as session:
        ensure_items(session, MONDAY)
        first = session.scalars(select(TriageItem.token)).one()

    _command(app, first, "new", "NEW001")

    ((held, why),) = _open(app)
    assert held != first and why.startswith("letter held: it arrived 5 working days ago")
    assert "reply `send`" in why

    _command(app, held, f"undo {held}", "UNDO01")

    ((again, why),) = _open(app)
    assert again not in (first, held) and why.startswith("not an FOI request")
    with session_scope(app.factory) as session:
        case = session.scalars(select(Case)).one()
        assert (State.CLOSED.value, None) == (case.status, case.hold)
        assert session.get(InboundMessage, row.id).case_id is None  # type: ignore[union-attr]
        assert [] == session.scalars(select(OutboxMessage.key).where(
            OutboxMessage.key.like("case:%"))).all()


def test_cases_new_on_the_server_leaves_a_held_letter_open_for_send_by_email(
    tmp_path: Path,
) -> None:
    """An administrator's `cases new` on mail read months late: the letter is held and the
    message stays open, with the reason, for the team to reply `send` to its notice."""
    env = {"FOI_MAILBOT_PATHS__DATA_DIR": str(tmp_path)}
    runner = CliRunner()
    ingested = runner.invoke(cli, ["ingest", str(FIXTURES / "not_foi_pothole_report.eml")],
                             env=env)
    assert 0 == ingested.exit_code, ingested.output

    opened = runner.invoke(cli, ["cases", "new", "1"], env=env)

    assert 0 == opened.exit_code, opened.output
    assert "letter held for a person" in opened.output
    listed = runner.invoke(cli, ["triage"], env=env)
    assert "letter held" in listed.output and "reply `send`" in listed.output
