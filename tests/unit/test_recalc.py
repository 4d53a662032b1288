"""Calendar changes: a newly proclaimed holiday moves every open deadline it touches, once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from foi_mailbot.bootstrap import App, build
from foi_mailbot.cases.lifecycle import Event
from foi_mailbot.cases.register import NewCase, move, open_case
from foi_mailbot.clock import FixedClock
from foi_mailbot.deadlines.laws import Law
from foi_mailbot.jobs import reminders
from foi_mailbot.jobs.digest import build_digest
from foi_mailbot.jobs.recalc import CALENDAR_CAUSE, recompute_open_deadlines
from foi_mailbot.settings import Settings
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import AuditEntry, Case, OutboxMessage
from tests.transports import MemoryTransport

LONDON = ZoneInfo("Europe/London")
RECEIVED = date(2026, 1, 5)  # FOIA due Monday 2 February 2026 on the installed calendar
PROCLAIMED = [{"date": "2026-01-20", "name": "A proclaimed bank holiday"}]


def at(day: date, hour: int = 10) -> datetime:
    """A London wall-clock time on `day`."""
    return datetime.combine(day, time(hour), tzinfo=LONDON)


@pytest.fixture
def before(settings: Settings, clock: FixedClock) -> Iterator[App]:
    """The application on the calendar the cases were opened with."""
    built = build(settings, clock=clock, transport=MemoryTransport())
    yield built
    built.close()


@pytest.fixture
def after(
    make_settings: Callable[..., Settings], db_url: str, clock: FixedClock, before: App
) -> Iterator[App]:
    """The same register, restarted with a proclaimed holiday added to the configuration."""
    built = build(make_settings(db=db_url, clock={"extra_holidays": PROCLAIMED}), clock=clock,
                  transport=MemoryTransport())
    yield built
    built.close()


def open_request(app: App, received: date = RECEIVED) -> tuple[int, str]:
    """Open an acknowledged FOIA case; returns its id and reference."""
    with session_scope(app.factory) as session:
        case = open_case(
            session,
            NewCase(law=Law.FOIA, applicant_name="A. Sample", applicant_email="a@example.org",
                    subject="Bins", received_at=at(received), received_on=received,
                    message_pk=None, status="requested"),
            codec=app.services.codec, calendars=app.services.calendars, now=at(received),
        )
        move(session, case, Event.ACKNOWLEDGED, at(received), None, ["acknowledged"])
    return case.id, case.reference


def calendar_audits(app: App) -> list[AuditEntry]:
    """Audit entries for deadlines moved by a calendar change."""
    with session_scope(app.factory) as session:
        return list(session.scalars(
            select(AuditEntry).where(AuditEntry.action == "deadline.changed",
                                     AuditEntry.cause == CALENDAR_CAUSE)
        ))


def test_a_proclaimed_holiday_moves_open_deadlines_with_an_audit_entry(
    before: App, after: App
) -> None:
    """A new holiday inside the counting period makes the due date one working day later."""
    case_id, reference = open_request(before)
    moved = recompute_open_deadlines(after.factory, after.services.calendars, at(date(2026, 1, 12)))

    audits = calendar_audits(after)
    with session_scope(after.factory) as session:
        case = session.get(Case, case_id)
        assert case is not None
        fingerprint, deadline = case.calendar_fingerprint, case.deadline or {}
    assert [(reference, date(2026, 2, 2), date(2026, 2, 3))] == moved
    assert [{"before": "2026-02-02", "after": "2026-02-03"}] == [a.detail for a in audits]
    assert after.services.calendars.for_law(Law.FOIA).fingerprint() == fingerprint
    assert any("A proclaimed bank holiday" in line for line in deadline["explanation"])


def test_recomputing_twice_changes_nothing_the_second_time(before: App, after: App) -> None:
    """Once recomputed, a case's fingerprint matches and it is left alone."""
    open_request(before)
    recompute_open_deadlines(after.factory, after.services.calendars, at(date(2026, 1, 12)))
    again = recompute_open_deadlines(after.factory, after.services.calendars, at(date(2026, 1, 12), 11))

    assert [] == again
    assert 1 == len(calendar_audits(after))


def test_answered_cases_keep_the_deadline_they_were_answered_against(
    before: App, after: App
) -> None:
    """Only open cases are recomputed; an answered case's due date is history."""
    case_id, _ = open_request(before)
    with session_scope(before.factory) as session:
        case = session.get(Case, case_id)
        assert case is not None
        move(session, case, Event.RESPONDED, at(date(2026, 1, 15)), None, ["answered"])
    moved = recompute_open_deadlines(after.factory, after.services.calendars, at(date(2026, 1, 16)))

    with session_scope(after.factory) as session:
        due = session.scalars(select(Case.due_on).where(Case.id == case_id)).one()
    assert [] == moved
    assert date(2026, 2, 2) == due


def test_a_change_outside_the_counting_period_only_refreshes_the_fingerprint(
    make_settings: Callable[..., Settings], db_url: str, clock: FixedClock, before: App
) -> None:
    """A holiday after the due date leaves the date alone and writes no audit entry."""
    case_id, _ = open_request(before)
    later = [{"date": "2026-06-01", "name": "A later proclaimed day"}]
    app = build(make_settings(db=db_url, clock={"extra_holidays": later}), clock=clock,
                transport=MemoryTransport())
    moved = recompute_open_deadlines(app.factory, app.services.calendars, at(date(2026, 1, 12)))

    with session_scope(app.factory) as session:
        case = session.get(Case, case_id)
        assert case is not None
        due, fingerprint = case.due_on, case.calendar_fingerprint
    assert [] == moved
    assert date(2026, 2, 2) == due
    assert app.services.calendars.for_law(Law.FOIA).fingerprint() == fingerprint
    assert [] == calendar_audits(app)
    app.close()


def test_the_reminder_sweep_recomputes_before_it_reminds(before: App, after: App) -> None:
    """On the old due date the sweep knows the case is due tomorrow, not today."""
    case_id, _ = open_request(before)
    assert isinstance(after.clock, FixedClock)
    after.clock.set(at(date(2026, 2, 2)))
    reminders.sweep(after.factory, after.services, after.clock.now())

    with session_scope(after.factory) as session:
        keys = list(session.scalars(select(OutboxMessage.key)))
    assert [f"reminder:{case_id}:2026-02-03:1wd"] == keys


def test_the_next_digest_lists_deadlines_moved_by_the_calendar(before: App, after: App) -> None:
    """The digest after a calendar change names each moved case with both dates."""
    _, reference = open_request(before)
    recompute_open_deadlines(after.factory, after.services.calendars, at(date(2026, 1, 12)))
    with session_scope(after.factory) as session:
        digest = build_digest(session, after.settings, after.services.calendars,
                              at(date(2026, 1, 12), 11))

    assert [(reference, date(2026, 2, 2), date(2026, 2, 3))] == [
        (m.reference, m.before, m.after) for m in digest.calendar_moves
    ]
