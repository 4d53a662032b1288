"""The case register on a real database: migrations, references under concurrency, the audit trail."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import event, select

from foi_mailbot.bootstrap import build
from foi_mailbot.cases.register import NewCase, open_case
from foi_mailbot.clock import FixedClock
from foi_mailbot.deadlines.laws import Law
from foi_mailbot.settings import Settings
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import AuditEntry, Case, InboundMessage
from tests.integration.harness import feed, fixture_mail

MAKE_CASES = """
import sys
from datetime import UTC, date, datetime
from foi_mailbot.bootstrap import build
from foi_mailbot.cases.register import NewCase, open_case
from foi_mailbot.deadlines.laws import Law
from foi_mailbot.settings import Settings
from foi_mailbot.storage.db import session_scope
settings = Settings(database={"url": sys.argv[1]}, organisation={"reference_secret": "s"})
app = build(settings, migrate=False)
now = datetime(2026, 1, 5, 9, tzinfo=UTC)
for i in range(int(sys.argv[2])):
    with session_scope(app.factory) as session:
        open_case(session, NewCase(Law.FOIA, "A", f"a{i}@example.org", "s", now,
                  date(2026, 1, 5), None, "requested"),
                  codec=app.services.codec, calendars=app.services.calendars, now=now)
"""


def _new(email: str) -> NewCase:
    now = datetime(2026, 1, 5, 9, tzinfo=UTC)
    return NewCase(Law.FOIA, "A Person", email, "Subject", now, date(2026, 1, 5), None,
                   "requested")


def test_opening_a_case_stores_reference_deadline_and_audit(settings: Settings) -> None:
    """A new case gets the next reference, its due date with reasons, and an audit entry."""
    app = build(settings, clock=FixedClock())
    with session_scope(app.factory) as session:
        case = open_case(session, _new("a@example.org"), codec=app.services.codec,
                         calendars=app.services.calendars, now=app.clock.now())
        audits = session.execute(select(AuditEntry.action, AuditEntry.detail)).all()

    assert case.reference.startswith("IC-000001-")
    assert date(2026, 2, 2) == case.due_on
    assert case.deadline is not None and case.deadline["explanation"]
    # The first due date is part of the opening, not a change of deadline.
    assert [("case.opened", "2026-02-02")] == [
        (action, (detail or {}).get("due")) for action, detail in audits]


def test_migrations_run_twice_without_harm(settings: Settings) -> None:
    """Applying migrations at every start is safe."""
    build(settings).close()
    build(settings).close()


@pytest.mark.postgres
def test_two_processes_get_distinct_gap_free_references(
    make_settings: Callable[..., Settings], pg_url: str
) -> None:
    """Two processes opening 500 cases each at once get 1,000 distinct numbers with no gaps."""
    build(make_settings(db=pg_url)).close()
    procs = [
        subprocess.Popen([sys.executable, "-c", MAKE_CASES, pg_url, "500"]) for _ in range(2)
    ]
    codes = [p.wait(timeout=240) for p in procs]

    assert [0, 0] == codes
    app = build(make_settings(db=pg_url), migrate=False)
    with session_scope(app.factory) as session:
        numbers = sorted(session.scalars(select(Case.number)))
        references = set(session.scalars(select(Case.reference)))
    assert list(range(1, 1001)) == numbers
    assert 1000 == len(references)


def test_a_new_request_writes_its_case_and_its_message_once(settings: Settings) -> None:
    """What may be sent is looked up before the case is opened and the message's row is
    recorded last, so no look-up writes either half-way: the case is inserted already
    acknowledged, and the row is updated once with everything the message's work found."""
    app = build(settings, clock=FixedClock(datetime(2026, 1, 12, 10, tzinfo=UTC)))
    writes: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        words = statement.split()
        if words[0] in ("INSERT", "UPDATE") and words[1] != "INTO":
            writes.append(f"{words[0]} {words[1].strip(chr(34))}")
        elif words[0] == "INSERT":
            writes.append(f"INSERT {words[2].strip(chr(34))}")

    for engine in (app.engine, app.quick_engine):
        if engine is not None:
            event.listen(engine, "before_cursor_execute", note)
    row = feed(app, fixture_mail("new_request_plain_foia.eml"), "request")

    with session_scope(app.factory) as session:
        case = session.scalars(select(Case)).one()
        assert "acknowledged" == case.status
        stored = session.get(InboundMessage, row.id)
        assert stored is not None and case.id == stored.case_id
    assert 1 == writes.count("INSERT case")
    assert 0 == writes.count("UPDATE case")
    # The claim, then the outcome.
    assert 2 == writes.count("UPDATE inbound_message"), writes
