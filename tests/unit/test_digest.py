"""The weekly digest: due at the set local time, sent once per ISO week, figures from the register."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select
from typer.testing import CliRunner

import foi_mailbot.cli.schedule  # noqa: F401 - registers `remind`, `digest` and `report`
from foi_mailbot.bootstrap import App, build
from foi_mailbot.cases.lifecycle import Event
from foi_mailbot.cases.register import NewCase, move, open_case, refresh_deadline
from foi_mailbot.cli.common import app as cli
from foi_mailbot.clock import FixedClock
from foi_mailbot.deadlines.laws import EventKind, Law
from foi_mailbot.ingest import store
from foi_mailbot.jobs.digest import build_digest, digest_due_at, render_digest, send_if_due
from foi_mailbot.settings import DigestSettings, Settings
from foi_mailbot.sources import RawMail
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import Case, OutboxMessage
from foi_mailbot.storage.state import put_state
from tests.conftest import FIXTURES
from tests.transports import MemoryTransport

LONDON = ZoneInfo("Europe/London")
OFFICER = "foi-officer@example.gov.uk"
TODAY = date(2026, 3, 9)  # a Monday; the digest covers Monday 2 to Sunday 8 March 2026


def at(day: date, hour: int = 10, minute: int = 0) -> datetime:
    """A London wall-clock time on `day`."""
    return datetime.combine(day, time(hour, minute), tzinfo=LONDON)


def open_request(app: App, received: date, *, law: Law = Law.FOIA,
                 original_id: int | None = None) -> int:
    """Open an acknowledged case received on `received`; returns its id."""
    with session_scope(app.factory) as session:
        original = session.get(Case, original_id) if original_id else None
        case = open_case(
            session,
            NewCase(law=law, applicant_name="A. Sample", applicant_email="a@example.org",
                    subject="Street lighting", received_at=at(received), received_on=received,
                    message_pk=None, status="requested", original=original),
            codec=app.services.codec, calendars=app.services.calendars, now=at(received),
        )
        move(session, case, Event.ACKNOWLEDGED, at(received), None, ["acknowledged"])
        if original is not None:
            move(session, original, Event.REVIEW_REQUESTED, at(received), None, ["review"])
    return case.id


def answer(app: App, case_id: int, on: date, outcome: str = "information_provided") -> None:
    """Record the response as the staff-message handler does."""
    with session_scope(app.factory) as session:
        case = session.get(Case, case_id)
        assert case is not None
        move(session, case, Event.RESPONDED, at(on), None, ["answered"], on=on)
        case.completed_on = on
        case.on_time = case.due_on is None or on <= case.due_on
        case.working_days_taken = app.services.calendars.for_law(
            Law(case.law)
        ).working_days_between(case.received_on, on)
        case.outcome = outcome


def seek_clarification(app: App, case_id: int, on: date) -> None:
    """Record that clarification was sought on `on` (the clock stops)."""
    with session_scope(app.factory) as session:
        case = session.get(Case, case_id)
        assert case is not None
        move(session, case, Event.CLARIFICATION_SOUGHT, at(on), None, ["asked"],
             clock_event=EventKind.CLARIFICATION_SOUGHT, on=on)
        refresh_deadline(session, case, app.services.calendars, now=at(on), cause="test")


def close(app: App, case_id: int, on: date) -> None:
    """Close a case without an answer (withdrawn)."""
    with session_scope(app.factory) as session:
        case = session.get(Case, case_id)
        assert case is not None
        move(session, case, Event.CLOSED, at(on), None, ["withdrawn"], on=on)


def flag_a_message(app: App, clock: FixedClock) -> int:
    """Store and process a real message the mailbox cannot handle alone; returns its id."""
    raw = (FIXTURES / "not_foi_invoice.eml").read_bytes()
    stored = store(app.factory, RawMail("test:invoice", "foi@example.gov.uk", "INBOX", 1, 1,
                                        clock.now(), raw, "inbound"), clock)
    app.pipeline.run_pending()
    return stored.message_pk


@dataclass(frozen=True)
class Register:
    """The seeded cases by role, as references."""

    due_soon: str
    overdue: str
    awaiting: str
    review: str
    reviewed: str
    flagged: int


def seed_register(app: App, clock: FixedClock) -> Register:
    """A small register as at Monday 9 March 2026 (financial year 2025/26).

    Answered in the year: 15 Dec 2025 (on time, 10 wd), 4 Mar (on time, 17 wd) and 6 Mar (late,
    over 40 wd): 2 of 3 on time, median 17. Received 2-8 March: two requests and one review.
    """
    clock.set(at(TODAY, 9))
    december = open_request(app, date(2025, 12, 1))
    answer(app, december, date(2025, 12, 15))
    on_time = open_request(app, date(2026, 2, 9))
    answer(app, on_time, date(2026, 3, 4))
    late = open_request(app, date(2026, 1, 5))
    answer(app, late, date(2026, 3, 6), outcome="refused")
    overdue = open_request(app, date(2026, 1, 5))
    due_soon = open_request(app, date(2026, 2, 11))
    awaiting = open_request(app, date(2026, 1, 12))
    seek_clarification(app, awaiting, date(2026, 1, 14))
    withdrawn = open_request(app, date(2026, 2, 10))
    close(app, withdrawn, date(2026, 3, 5))
    open_request(app, date(2026, 3, 3))
    open_request(app, date(2026, 3, 5))
    review = open_request(app, date(2026, 3, 6), law=Law.REVIEW_FOIA, original_id=on_time)
    flagged = flag_a_message(app, clock)
    with session_scope(app.factory) as session:
        ref = {c.id: c.reference for c in session.scalars(select(Case))}
    return Register(ref[due_soon], ref[overdue], ref[awaiting], ref[review], ref[on_time],
                    flagged)


class Apps:
    """Builds applications on the test database, closing them afterwards."""

    def __init__(self, settings: Settings, clock: FixedClock) -> None:
        self.settings, self.clock = settings, clock
        self.transport = MemoryTransport()
        self.built: list[App] = []

    def __call__(self, settings: Settings | None = None) -> App:
        app = build(settings or self.settings, clock=self.clock, transport=self.transport)
        self.built.append(app)
        return app


@pytest.fixture
def apps(settings: Settings, clock: FixedClock) -> Iterator[Apps]:
    """A factory of applications sharing the test database, clock and transport."""
    factory = Apps(settings, clock)
    yield factory
    for app in factory.built:
        app.close()


def digest_keys(app: App) -> list[str]:
    """The digest outbox keys, in the order queued."""
    with session_scope(app.factory) as session:
        return list(session.scalars(
            select(OutboxMessage.key).where(OutboxMessage.purpose == "digest")
            .order_by(OutboxMessage.id)
        ))


@pytest.mark.parametrize(
    ("weekday", "day", "expected"),
    [
        ("mon", date(2026, 3, 29), "2026-03-23T08:00:00+00:00"),
        ("mon", date(2026, 3, 30), "2026-03-30T08:00:00+01:00"),
        ("sun", date(2026, 3, 29), "2026-03-29T08:00:00+01:00"),
        ("mon", date(2026, 10, 25), "2026-10-19T08:00:00+01:00"),
        ("mon", date(2026, 10, 26), "2026-10-26T08:00:00+00:00"),
        ("sun", date(2026, 10, 25), "2026-10-25T08:00:00+00:00"),
    ],
)
def test_the_digest_falls_due_at_eight_local_in_clock_change_weeks(
    weekday: str, day: date, expected: str
) -> None:
    """The set weekday and time are London wall-clock time, on either side of a change."""
    due = digest_due_at(DigestSettings(weekday=weekday), day, LONDON)  # type: ignore[arg-type]

    assert expected == due.isoformat()


@pytest.mark.parametrize(
    ("just_before", "on_time"),
    [
        (datetime(2026, 3, 30, 6, 59, tzinfo=UTC), datetime(2026, 3, 30, 7, 0, tzinfo=UTC)),
        (datetime(2026, 10, 26, 7, 59, tzinfo=UTC), datetime(2026, 10, 26, 8, 0, tzinfo=UTC)),
    ],
)
def test_the_due_check_sends_at_eight_local_after_a_clock_change(
    apps: Apps, clock: FixedClock, just_before: datetime, on_time: datetime
) -> None:
    """One minute before 08:00 London time nothing goes; at 08:00 the digest does."""
    app = apps()
    clock.set(just_before)
    early = send_if_due(app.factory, app.services, clock.now())
    clock.set(on_time)

    assert early is False
    assert send_if_due(app.factory, app.services, clock.now()) is True


def test_a_daemon_down_from_sunday_to_tuesday_sends_mondays_digest_once_on_tuesday(
    apps: Apps, clock: FixedClock
) -> None:
    """Monday's digest, missed while down, goes out on Tuesday and only once."""
    app = apps()
    fired = []
    for instant in (at(date(2026, 1, 5), 8, 30), at(date(2026, 1, 11), 20)):
        clock.set(instant)
        fired.append(send_if_due(app.factory, app.services, clock.now()))
    app.close()
    app = apps()  # back on Tuesday
    for instant in (at(date(2026, 1, 13), 10), at(date(2026, 1, 13), 10, 5),
                    at(date(2026, 1, 14), 9)):
        clock.set(instant)
        fired.append(send_if_due(app.factory, app.services, clock.now()))
    app.outbox.send_due()

    assert [True, False, True, False, False] == fired
    assert [f"digest:2026-W02:{OFFICER}", f"digest:2026-W03:{OFFICER}"] == digest_keys(app)
    assert "Covering Monday 5 January 2026 to Sunday 11 January 2026" in (
        apps.transport.sent[-1].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    )


def test_each_recipient_gets_one_copy_a_week_even_if_added_midweek(
    apps: Apps, clock: FixedClock, make_settings: Callable[..., Settings], db_url: str
) -> None:
    """Extra recipients get their own copy; one added later in the week gets only theirs."""
    deputy, auditor = "deputy@example.gov.uk", "auditor@example.gov.uk"
    clock.set(at(date(2026, 1, 5), 9))
    first = apps(make_settings(db=db_url, digest={"extra_recipients": [deputy]}))
    send_if_due(first.factory, first.services, clock.now())
    clock.set(at(date(2026, 1, 6), 9))
    app = apps(make_settings(db=db_url, digest={"extra_recipients": [deputy, auditor]}))
    send_if_due(app.factory, app.services, clock.now())

    assert [f"digest:2026-W02:{a}" for a in (OFFICER, deputy, auditor)] == digest_keys(app)


def test_the_digest_counts_the_register(apps: Apps, clock: FixedClock) -> None:
    """Every section's figures match the seeded register."""
    app = apps()
    seeded = seed_register(app, clock)
    with session_scope(app.factory) as session:
        put_state(session, "last_sync", {"at": at(TODAY, 8, 55).isoformat()}, clock.now())
    with session_scope(app.factory) as session:
        d = build_digest(session, app.settings, app.services.calendars, clock.now())

    assert ("2026-W11", date(2026, 3, 2), date(2026, 3, 8)) == (
        d.week, d.period_start, d.period_end)
    assert (3, 1, 2, 1) == (d.activity.received, d.activity.reviews_received,
                            d.activity.answered, d.activity.closed_without_answer)
    assert [(seeded.due_soon, 2)] == [(c.reference, c.days) for c in d.due_soon.lines]
    assert [(seeded.overdue, 25)] == [(c.reference, c.days) for c in d.overdue.lines]
    assert [(seeded.awaiting, date(2026, 1, 14), 38)] == [
        (c.reference, c.since, c.days) for c in d.awaiting_clarification.lines]
    assert [(seeded.review, f"review of {seeded.reviewed}")] == [
        (c.reference, c.note) for c in d.reviews.lines]
    assert [seeded.flagged] == [m.message_pk for m in d.needs_person]
    assert (3, 2, 17.0, "66.7%", False) == (
        d.compliance.answered, d.compliance.on_time, d.compliance.median_working_days,
        d.compliance.share_text, d.compliance.meets_benchmark)
    assert {"acknowledged": 5, "awaiting_clarification": 1} == {
        s.state: s.count for s in d.open_by_state}
    assert (False, "08:55") == (d.health.sync_stale, f"{d.health.last_sync:%H:%M}")


def test_the_chart_counts_twelve_weeks_ending_the_day_before_the_digest(
    apps: Apps, clock: FixedClock
) -> None:
    """Weekly volumes are seven-day blocks ending with the digest's week, oldest first."""
    app = apps()
    seed_register(app, clock)
    with session_scope(app.factory) as session:
        d = build_digest(session, app.settings, app.services.calendars, clock.now())

    weeks = {w.start: (w.received, w.answered, w.on_time) for w in d.weeks}
    assert 12 == len(d.weeks)
    assert (date(2025, 12, 15), date(2026, 3, 2)) == (d.weeks[0].start, d.weeks[-1].start)
    assert (3, 2, 1) == weeks[date(2026, 3, 2)]
    assert (2, 0, 0) == weeks[date(2026, 1, 5)]
    assert (0, 1, 1) == weeks[date(2025, 12, 15)]


def test_the_digest_renders_every_section_for_outlook_and_gmail(
    apps: Apps, clock: FixedClock
) -> None:
    """Text and HTML carry the same sections; the HTML is tables and inline styles only."""
    app = apps()
    seeded = seed_register(app, clock)
    with session_scope(app.factory) as session:
        d = build_digest(session, app.settings, app.services.calendars, clock.now())
    text, html = render_digest(app.services.acks.env, d)

    for heading in ("OVERDUE: 1", "AWAITING CLARIFICATION: 1", "INTERNAL REVIEWS OPEN: 1",
                    "MESSAGES NEEDING A PERSON: 1", "LAST TWELVE WEEKS", "SERVICE HEALTH",
                    "2 of 3 (66.7%)", seeded.overdue):
        assert heading in text
    for piece in ("Overdue", "Awaiting clarification", "Internal reviews open",
                  "Last twelve weeks", "2 of 3 (66.7%)", 'bgcolor="#1d70b8"', seeded.review):
        assert piece in html
    for banned in ("<script", "<img", "<style", "<link", "http://", "https://", "class="):
        assert banned not in html


def write_config(tmp_path: Path, db_url: str) -> Path:
    """A configuration file for the command line on the test database."""
    path = tmp_path / "foi-mailbot.toml"
    path.write_text(
        f'[organisation]\nreference_secret = "test-secret"\n'
        f'[paths]\ndata_dir = "{tmp_path / "data"}"\n'
        f'[database]\nurl = "{db_url}"\n'
        f'[mailbox]\nmaildir = "{tmp_path / "maildir"}"\n',
        encoding="utf-8",
    )
    return path


def test_digest_preview_prints_and_writes_html_without_sending(
    apps: Apps, clock: FixedClock, tmp_path: Path, db_url: str
) -> None:
    """`digest --preview --html FILE` shows the digest and queues nothing."""
    app = apps()
    seed_register(app, clock)
    page = tmp_path / "digest.html"
    with time_machine.travel(at(TODAY, 12), tick=False):
        result = CliRunner().invoke(
            cli, ["digest", "--preview", "--html", str(page), "--config",
                  str(write_config(tmp_path, db_url))])

    assert 0 == result.exit_code, result.output
    assert "FOI weekly digest for Example Council, week 2026-W11" in result.output
    assert "Last twelve weeks" in page.read_text(encoding="utf-8")
    assert [] == digest_keys(app)


def test_digest_send_queues_this_weeks_digest_once(
    apps: Apps, tmp_path: Path, db_url: str
) -> None:
    """`digest --send` twice in a week sends one digest and says so the second time."""
    app = apps()
    config = str(write_config(tmp_path, db_url))
    with time_machine.travel(at(TODAY, 7), tick=False):
        first = CliRunner().invoke(cli, ["digest", "--send", "--config", config])
        second = CliRunner().invoke(cli, ["digest", "--send", "--config", config])

    assert 0 == first.exit_code, first.output
    assert "already queued" in second.output
    assert [f"digest:2026-W11:{OFFICER}"] == digest_keys(app)


@pytest.mark.parametrize("args", [[], ["--preview", "--send"], ["--send", "--html", "x.html"]])
def test_digest_command_rejects_a_muddled_request_in_one_sentence(
    args: list[str], tmp_path: Path, db_url: str
) -> None:
    """Neither or both of --preview/--send, or --html without --preview, exits 2."""
    result = CliRunner().invoke(cli, ["digest", *args, "--config", str(write_config(tmp_path, db_url))])

    assert 2 == result.exit_code
    assert 1 == len(result.output.strip().splitlines())
