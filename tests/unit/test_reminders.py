"""Reminders: each goes out once, at the right local time, whatever the restarts and downtime."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from sqlalchemy import select
from typer.testing import CliRunner

import foi_mailbot.cli.schedule  # noqa: F401 - registers `remind`, `digest` and `report`
from foi_mailbot.bootstrap import App, build, make_scheduler
from foi_mailbot.cases.lifecycle import Event
from foi_mailbot.cases.register import NewCase, move, open_case, refresh_deadline
from foi_mailbot.cli.common import app as cli
from foi_mailbot.clock import FixedClock
from foi_mailbot.deadlines.laws import EventKind, Law
from foi_mailbot.deadlines.workdays import WorkingDays
from foi_mailbot.ingest import store
from foi_mailbot.jobs import SCHEDULE, reminders
from foi_mailbot.jobs.reminders import deadline_stage, reminder_day
from foi_mailbot.settings import Settings
from foi_mailbot.sources import RawMail
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import Case, OutboxMessage
from tests.conftest import FIXTURES
from tests.transports import MemoryTransport

LONDON = ZoneInfo("Europe/London")
FOIA = WorkingDays.for_law(Law.FOIA)
RECEIVED = date(2026, 1, 5)  # Monday; FOIA due Monday 2 February 2026
DUE = date(2026, 2, 2)
TEAM = "foi-team@example.gov.uk"


@pytest.fixture
def transport() -> MemoryTransport:
    """Mail the app sends ends up here."""
    return MemoryTransport()


@pytest.fixture
def app(settings: Settings, clock: FixedClock, transport: MemoryTransport) -> Iterator[App]:
    """An application on the parametrised database with the test clock."""
    built = build(settings, clock=clock, transport=transport)
    yield built
    built.close()


def at(day: date, hour: int = 10, minute: int = 0) -> datetime:
    """A London wall-clock time on `day`, as an aware instant."""
    return datetime.combine(day, time(hour, minute), tzinfo=LONDON)


def open_request(app: App, received: date = RECEIVED, *, law: Law = Law.FOIA,
                 original_id: int | None = None) -> int:
    """Open an acknowledged case received on `received`; returns its id."""
    with session_scope(app.factory) as session:
        original = session.get(Case, original_id) if original_id else None
        case = open_case(
            session,
            NewCase(law=law, applicant_name="A. Sample", applicant_email="a@example.org",
                    subject="Bin collections", received_at=at(received), received_on=received,
                    message_pk=None, status="requested", original=original),
            codec=app.services.codec, calendars=app.services.calendars, now=at(received),
        )
        move(session, case, Event.ACKNOWLEDGED, at(received), None, ["acknowledged"])
    return case.id


def apply_event(app: App, case_id: int, event: Event, on: date,
                clock_event: EventKind | None = None, days: int | None = None) -> Case:
    """Record a lifecycle (and clock) event on `on` and recompute the deadline."""
    with session_scope(app.factory) as session:
        case = session.get(Case, case_id)
        assert case is not None
        move(session, case, event, at(on), None, ["test"], clock_event=clock_event, on=on,
             days=days)
        refresh_deadline(session, case, app.services.calendars, now=at(on), cause="test")
        return case


def outbox_keys(app: App) -> list[str]:
    """Every outbox key, in the order queued."""
    with session_scope(app.factory) as session:
        return list(session.scalars(select(OutboxMessage.key).order_by(OutboxMessage.id)))


def sweep_at(app: App, instant: datetime) -> None:
    """Move the app's clock to `instant` and run the reminder sweep."""
    assert isinstance(app.clock, FixedClock)
    app.clock.set(instant)
    reminders.sweep(app.factory, app.services, instant)


def reminder_keys(app: App) -> list[str]:
    """The reminder keys queued so far."""
    return [k for k in outbox_keys(app) if k.startswith("reminder:")]


@pytest.mark.parametrize(
    ("today", "every", "expected"),
    [
        (date(2026, 1, 23), 1, None),
        (date(2026, 1, 26), 1, "5wd"),
        (date(2026, 1, 29), 1, "5wd"),
        (date(2026, 1, 30), 1, "1wd"),
        (date(2026, 2, 2), 1, "due"),
        (date(2026, 2, 3), 1, "overdue:1"),
        (date(2026, 2, 6), 1, "overdue:4"),
        (date(2026, 2, 8), 1, "overdue:4"),
        (date(2026, 2, 6), 5, "due"),
        (date(2026, 2, 9), 5, "overdue:5"),
        (date(2026, 2, 20), 5, "overdue:10"),
    ],
)
def test_the_stage_is_the_latest_reminder_that_applies(
    today: date, every: int, expected: str | None
) -> None:
    """Before, on and after the due date, only the most recent reminder applies."""
    stage = deadline_stage(DUE, today, FOIA, days_before=[5, 1], overdue_every=every)

    assert expected == (stage.kind if stage else None)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Summer time starts Sunday 29 March 2026: 08:00 BST is 07:00 UTC.
        (datetime(2026, 3, 30, 6, 59, tzinfo=UTC), date(2026, 3, 29)),
        (datetime(2026, 3, 30, 7, 0, tzinfo=UTC), date(2026, 3, 30)),
        # Summer time ends Sunday 25 October 2026: 08:00 GMT is 08:00 UTC.
        (datetime(2026, 10, 26, 7, 59, tzinfo=UTC), date(2026, 10, 25)),
        (datetime(2026, 10, 26, 8, 0, tzinfo=UTC), date(2026, 10, 26)),
    ],
)
def test_a_days_reminders_fall_due_at_send_time_local_across_clock_changes(
    now: datetime, expected: date
) -> None:
    """Reminders for a day go out from 08:00 London time, summer or winter."""
    assert expected == reminder_day(now, LONDON, time(8, 0))


def test_each_reminder_goes_out_once_across_many_sweeps_and_restarts(
    settings: Settings, clock: FixedClock, transport: MemoryTransport
) -> None:
    """Sweeping at many instants, rebuilding the app each day, sends each reminder once."""
    app = build(settings, clock=clock, transport=transport)
    case_id = open_request(app)
    day = RECEIVED
    while day <= date(2026, 2, 6):
        app.close()
        app = build(settings, clock=clock, transport=transport, migrate=False)  # a restart
        for hour, minute in ((0, 30), (7, 59), (8, 0), (8, 5), (17, 0)):
            clock.set(at(day, hour, minute))
            reminders.sweep(app.factory, app.services, clock.now())
            app.outbox.send_due()
        day += timedelta(days=1)
    app.close()

    prefix = f"reminder:{case_id}:2026-02-02:"
    assert [prefix + k for k in ("5wd", "1wd", "due", "overdue:1", "overdue:2", "overdue:3",
                                 "overdue:4")] == reminder_keys(app)
    assert 7 == len(transport.sent)


def test_a_daemon_down_across_two_reminders_sends_only_the_latest_once(app: App) -> None:
    """Back after missing "5 days before", only "1 day before" goes out, and only once."""
    case_id = open_request(app)
    sweep_at(app, at(date(2026, 1, 23)))
    sweep_at(app, at(date(2026, 1, 30), 9))
    sweep_at(app, at(date(2026, 1, 30), 11))

    assert [f"reminder:{case_id}:2026-02-02:1wd"] == reminder_keys(app)


def test_a_daemon_down_for_days_of_overdue_sends_one_overdue_reminder(app: App) -> None:
    """A week of missed overdue reminders becomes the latest one, once."""
    case_id = open_request(app)
    sweep_at(app, at(date(2026, 1, 26)))
    sweep_at(app, at(date(2026, 2, 9)))
    sweep_at(app, at(date(2026, 2, 9), 16))

    assert [f"reminder:{case_id}:2026-02-02:5wd",
            f"reminder:{case_id}:2026-02-02:overdue:5"] == reminder_keys(app)


def test_a_moved_due_date_gets_fresh_reminders(app: App) -> None:
    """After an extension the new due date has its own 5-day reminder."""
    case_id = open_request(app)
    sweep_at(app, at(date(2026, 1, 26)))
    case = apply_event(app, case_id, Event.EXTENDED, date(2026, 1, 28), EventKind.EXTENSION, 20)
    assert case.due_on is not None
    new_due = case.due_on
    five_before = reminders.working_day_before(FOIA, new_due, 5)
    sweep_at(app, at(five_before))

    assert [f"reminder:{case_id}:2026-02-02:5wd",
            f"reminder:{case_id}:{new_due.isoformat()}:5wd"] == reminder_keys(app)


def test_no_deadline_reminders_while_the_clock_is_stopped_or_after_the_answer(app: App) -> None:
    """A case awaiting clarification, or answered, gets no deadline reminders."""
    waiting = open_request(app)
    apply_event(app, waiting, Event.CLARIFICATION_SOUGHT, date(2026, 1, 8),
                EventKind.CLARIFICATION_SOUGHT)
    answered = open_request(app)
    apply_event(app, answered, Event.RESPONDED, date(2026, 1, 20))
    sweep_at(app, at(date(2026, 2, 2)))

    assert [] == reminder_keys(app)


def test_an_unanswered_clarification_is_chased_then_suggested_for_closure(
    app: App, transport: MemoryTransport
) -> None:
    """After 20 working days the team is told; after three months, closure is suggested."""
    case_id = open_request(app)
    apply_event(app, case_id, Event.CLARIFICATION_SOUGHT, date(2026, 1, 8),
                EventKind.CLARIFICATION_SOUGHT)
    chase = FOIA.add_working_days(date(2026, 1, 8), 20)[0]
    sweep_at(app, at(chase - timedelta(days=1)))
    before = reminder_keys(app)
    sweep_at(app, at(chase))
    sweep_at(app, at(date(2026, 4, 8)))
    sweep_at(app, at(date(2026, 4, 9)))
    app.outbox.send_due()

    assert [] == before
    assert [f"reminder:{case_id}:2026-01-08:clarification",
            f"reminder:{case_id}:2026-01-08:clarification_lapsed"] == reminder_keys(app)
    body = transport.sent[-1].get_body(("plain",))
    assert body is not None
    assert "closed - no clarification" in body.get_content()


def test_a_review_deadline_is_reminded_as_a_review(
    app: App, transport: MemoryTransport
) -> None:
    """An internal review case gets its own due-day reminder naming the original case."""
    original = open_request(app)
    apply_event(app, original, Event.RESPONDED, date(2026, 1, 20))
    review = open_request(app, date(2026, 1, 26), law=Law.REVIEW_FOIA, original_id=original)
    with session_scope(app.factory) as session:
        case = session.get(Case, review)
        assert case is not None and case.due_on is not None
        due, reference = case.due_on, case.reference
        original_ref = session.get(Case, original).reference  # type: ignore[union-attr]
    sweep_at(app, at(due))
    app.outbox.send_due()

    message = transport.sent[-1]
    assert [f"reminder:{review}:{due.isoformat()}:due"] == reminder_keys(app)
    assert f"[{reference}] Internal review due today" == message["Subject"]
    assert f"Review of:  {original_ref}" in message.get_content()


def test_a_message_needing_a_person_is_left_to_the_triage_sweep(
    app: App, clock: FixedClock, transport: MemoryTransport
) -> None:
    """A message flagged for a person gets no reminder of its own: the triage sweep puts it in
    one daily summary, however often both are swept."""
    from foi_mailbot.triage import notices

    raw = (FIXTURES / "not_foi_invoice.eml").read_bytes()
    store(app.factory, RawMail("test:invoice", "foi@example.gov.uk", "INBOX", 1, 1,
                               clock.now(), raw, "inbound"), clock)
    app.pipeline.run_pending()
    start = clock.now()
    for hours in (0, 1, 30):
        sweep_at(app, start + timedelta(hours=hours))
        notices.sweep(app.factory, app.services, start + timedelta(hours=hours))
    app.outbox.send_due()

    assert [] == reminder_keys(app)
    subjects = [m["Subject"] for m in transport.sent]
    assert 2 == len(subjects)  # the summary of each day swept: today, and the day after
    assert all("1 set-aside messages" in s for s in subjects)
    assert TEAM == transport.sent[-1]["To"]


def test_reminders_go_to_the_team_marked_auto_generated(
    app: App, transport: MemoryTransport
) -> None:
    """A staff reminder is machine-generated mail, not an automatic reply to a requester."""
    open_request(app)
    sweep_at(app, at(DUE))
    app.outbox.send_due()

    message = transport.sent[0]
    assert TEAM == message["To"]
    assert "auto-generated" == message["Auto-Submitted"]
    assert message["In-Reply-To"] is None


def _run_scheduler_once(app: App) -> None:
    """Start a real scheduler, let its start-up jobs run once, and shut it down."""
    stop = threading.Event()
    scheduler = make_scheduler(app, stop_event=stop)
    wanted = {job.id for job in SCHEDULE if job.at_start}
    done: set[str] = set()
    finished = threading.Event()

    def listener(event: JobExecutionEvent) -> None:
        done.add(event.job_id)
        if wanted <= done:
            finished.set()

    scheduler.add_listener(listener, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    scheduler.start()
    try:
        assert finished.wait(timeout=60), f"start-up jobs did not all run: {sorted(done)}"
    finally:
        stop.set()
        scheduler.shutdown(wait=True)


def test_a_real_scheduler_restarted_many_times_sends_each_reminder_once(
    app: App, clock: FixedClock, transport: MemoryTransport
) -> None:
    """A BackgroundScheduler started and stopped at many instants sends each reminder once."""
    case_id = open_request(app)
    for day, hour in [(date(2026, 1, 26), 9), (date(2026, 1, 26), 9), (date(2026, 1, 27), 9),
                      (date(2026, 1, 30), 7), (date(2026, 1, 30), 8), (date(2026, 2, 2), 12),
                      (date(2026, 2, 3), 12), (date(2026, 2, 3), 18)]:
        clock.set(at(day, hour))
        _run_scheduler_once(app)
    app.outbox.send_due()

    prefix = f"reminder:{case_id}:2026-02-02:"
    assert [prefix + k for k in ("5wd", "1wd", "due", "overdue:1")] == reminder_keys(app)
    assert 4 == sum(1 for m in transport.sent if "Request" in str(m["Subject"]))


def test_the_schedule_runs_every_job_once_at_a_time_in_the_local_zone(app: App) -> None:
    """Every job coalesces, never overlaps itself, tolerates lateness, fires in London time."""
    scheduler = make_scheduler(app, stop_event=threading.Event())
    jobs = {job.id: job for job in scheduler.get_jobs()}

    assert {"outbox.send", "reminders.sweep", "digest.check", "triage.sweep",
            "housekeeping"} == set(jobs)
    for job in jobs.values():
        assert job.coalesce is True
        assert 1 == job.max_instances
        assert job.misfire_grace_time > 0
        assert "Europe/London" == str(job.trigger.timezone)


@pytest.mark.parametrize(
    ("previous", "expected"),
    [
        ("2026-03-28T03:30:00+00:00", "2026-03-29T03:30:00+01:00"),
        ("2026-10-24T03:30:00+01:00", "2026-10-25T03:30:00+00:00"),
    ],
)
def test_housekeeping_fires_at_half_past_three_local_across_clock_changes(
    previous: str, expected: str
) -> None:
    """The nightly trigger keeps 03:30 London time through both clock changes."""
    settings = Settings()
    trigger = next(j for j in SCHEDULE if j.id == "housekeeping").trigger(settings)
    before = datetime.fromisoformat(previous).astimezone(LONDON)

    assert expected == trigger.get_next_fire_time(before, before).isoformat()


def _config(tmp_path: Path, db_url: str) -> Path:
    path = tmp_path / "foi-mailbot.toml"
    path.write_text(
        f'[organisation]\nreference_secret = "test-secret"\n'
        f'[paths]\ndata_dir = "{tmp_path / "data"}"\n'
        f'[database]\nurl = "{db_url}"\n'
        f'[mailbox]\nmaildir = "{tmp_path / "maildir"}"\n',
        encoding="utf-8",
    )
    return path


def test_remind_dry_run_lists_what_is_due_and_queues_nothing(
    app: App, tmp_path: Path, db_url: str
) -> None:
    """`foi-mailbot remind --dry-run` names the reminders due now and sends none."""
    case_id = open_request(app)
    config = _config(tmp_path, db_url)
    with time_machine.travel(at(DUE, 9), tick=False):
        listed = CliRunner().invoke(cli, ["remind", "--dry-run", "--config", str(config)])
        after_dry_run = reminder_keys(app)
        sent = CliRunner().invoke(cli, ["remind", "--config", str(config)])

    assert 0 == listed.exit_code, listed.output
    assert f"reminder:{case_id}:2026-02-02:due" in listed.output
    assert [] == after_dry_run
    assert 0 == sent.exit_code, sent.output
    assert [f"reminder:{case_id}:2026-02-02:due"] == reminder_keys(app)
