"""The daemon's schedules: sending the outbox, the reminder sweep, the weekly digest, housekeeping.

APScheduler 3.x fires the jobs in `SCHEDULE` inside the daemon, from an in-memory job store (no
pickled jobs), in the organisation's time zone. Every job is a thin, idempotent sweep over our
own tables that takes `now` from the injected clock and decides what is due from the database:
a missed, doubled or manually rerun fire changes nothing, so restarts and downtime can neither
double-send nor lose a reminder or a digest. The same sweeps are CLI commands (`remind`,
`digest`); `once` sends the outbox.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from foi_mailbot.errors import FoiMailbotError
from foi_mailbot.jobs import digest, recalc, reminders
from foi_mailbot.purge import purge_raw
from foi_mailbot.settings import Settings
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.state import put_state

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from foi_mailbot.cases.service import Services
    from foi_mailbot.clock import Clock

log = structlog.get_logger(__name__)



@dataclass(frozen=True)
class Sweeps:
    """What the scheduled jobs use, given by the composition root."""

    settings: Settings
    clock: Clock
    factory: sessionmaker[Session]
    services: Services
    # Sends what is due until `stop`, or nothing while the mail loop is mid-cycle (it sends
    # the outbox when its cycle ends); returns how many went.
    send_outbox: Callable[[Callable[[], bool]], int]


JobBody = Callable[[Sweeps, datetime, threading.Event], object]


@dataclass(frozen=True)
class ScheduledJob:
    """One periodic job: its id, what it runs, when it fires, how late a fire may still run.

    `at_start` jobs also run as soon as the scheduler starts, so a daemon coming back after
    downtime catches up at once instead of at the next interval.
    """

    id: str
    body: JobBody
    trigger: Callable[[Settings], Any]
    misfire_grace: timedelta
    at_start: bool = False


def _send_outbox(sweeps: Sweeps, _now: datetime, stop: threading.Event) -> object:
    return sweeps.send_outbox(stop.is_set)


def _remind(sweeps: Sweeps, now: datetime, _stop: threading.Event) -> object:
    return reminders.sweep(sweeps.factory, sweeps.services, now)


def _digest(sweeps: Sweeps, now: datetime, _stop: threading.Event) -> object:
    return digest.send_if_due(sweeps.factory, sweeps.services, now)


def _triage(sweeps: Sweeps, now: datetime, _stop: threading.Event) -> object:
    from foi_mailbot.triage import notices  # the triage sweep imports the reminders' letters

    return notices.sweep(sweeps.factory, sweeps.services, now)


def _housekeeping(sweeps: Sweeps, now: datetime, _stop: threading.Event) -> object:
    recalc.recompute_open_deadlines(sweeps.factory, sweeps.services.calendars, now)
    keep = sweeps.settings.retention.keep_raw_days
    return purge_raw(sweeps.factory, sweeps.clock, older_than_days=keep) if keep else None


def _every(**interval: int) -> Callable[[Settings], Any]:
    return lambda s: IntervalTrigger(timezone=s.organisation.zone, **interval)


def _nightly(s: Settings) -> Any:
    # 03:30 exists on every day in Europe/London (the clocks change between 01:00 and 02:00).
    return CronTrigger(hour=3, minute=30, timezone=s.organisation.zone)


SCHEDULE: Final = (
    ScheduledJob("outbox.send", _send_outbox, _every(seconds=10), timedelta(seconds=30), True),
    ScheduledJob("reminders.sweep", _remind, _every(minutes=5), timedelta(minutes=10), True),
    ScheduledJob("digest.check", _digest, _every(minutes=5), timedelta(minutes=10), True),
    ScheduledJob("triage.sweep", _triage, _every(minutes=5), timedelta(minutes=10), True),
    ScheduledJob("housekeeping", _housekeeping, _nightly, timedelta(hours=6)),
)


def _runner(job: ScheduledJob, sweeps: Sweeps, stop: threading.Event) -> Callable[[], None]:
    failing = threading.Event()

    def run() -> None:
        if stop.is_set():
            return
        try:
            job.body(sweeps, sweeps.clock.now(), stop)
        except Exception as exc:  # noqa: BLE001 - a failed sweep must not stop the schedule; the next fire retries
            # Library errors may quote SQL parameters (applicant text): log only the class.
            detail = str(exc) if isinstance(exc, FoiMailbotError) else type(exc).__name__
            log.error("job.failed", job=job.id, error=detail)
            failing.set()
            _record(sweeps, job.id, {"failed_at": sweeps.clock.now().isoformat(), "error": detail})
            return
        if failing.is_set():
            failing.clear()
            log.info("job.recovered", job=job.id)
            _record(sweeps, job.id, {"ok_at": sweeps.clock.now().isoformat()})

    return run


def _record(sweeps: Sweeps, job_id: str, value: dict[str, Any]) -> None:
    try:
        with session_scope(sweeps.factory) as session:
            put_state(session, f"job:{job_id}", value, sweeps.clock.now())
    except Exception:  # noqa: BLE001 - the database being down is what failed; the log has it
        log.warning("job.state_not_recorded", job=job_id)


def schedule(sweeps: Sweeps, *, stop_event: threading.Event) -> BackgroundScheduler:
    """A scheduler (not started) with every job in SCHEDULE, firing in the organisation's zone.

    One worker thread runs the jobs one at a time: they are short, and serialising them keeps
    SQLite's single writer free of contention between our own sweeps.
    """
    zone = sweeps.settings.organisation.zone
    scheduler = BackgroundScheduler(
        jobstores={"default": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        job_defaults={"coalesce": True, "max_instances": 1},
        timezone=zone,
    )
    for job in SCHEDULE:
        # When a job fires is the scheduler's wall clock; what it does takes `now` from `clock`.
        first = {"next_run_time": datetime.now(zone)} if job.at_start else {}
        scheduler.add_job(
            _runner(job, sweeps, stop_event),
            trigger=job.trigger(sweeps.settings),
            id=job.id,
            name=job.id,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=int(job.misfire_grace.total_seconds()),
            replace_existing=True,
            **first,
        )
    return scheduler


def template_samples() -> dict[str, list[Any]]:
    """Sample contexts for every template the jobs render, for `check_templates(extra=...)`."""
    from datetime import date

    from foi_mailbot.jobs.stats import Activity, Compliance, Flagged, StateCount, WeekVolume

    line = digest.CaseLine("IC-000123-N1W5", "FOIA", "acknowledged", date(2026, 3, 2),
                           date(2026, 3, 30), days=3, since=date(2026, 3, 9), note="review of X")
    listing = digest.Listing((line,), 2)
    sample = digest.Digest(
        organisation="Example Council", week="2026-W14", today=date(2026, 3, 30),
        period_start=date(2026, 3, 23), period_end=date(2026, 3, 29),
        activity=Activity(date(2026, 3, 23), date(2026, 3, 29), 5, 1, 4, 1),
        open_total=7, open_by_state=(StateCount("acknowledged", 7, date(2026, 3, 31)),),
        soon_until=date(2026, 4, 7), due_soon=listing, overdue=listing,
        awaiting_clarification=listing, reviews=listing,
        needs_person=(Flagged(9, date(2026, 3, 27), "a@example.org", "", "unclear"),),
        needs_person_total=2,
        compliance=Compliance(2025, date(2025, 4, 1), date(2026, 3, 30), 10, 9, 18.5),
        weeks=tuple(WeekVolume(date(2026, 1, 5) + timedelta(weeks=i), i, i // 2, i // 3)
                    for i in range(12)),
        calendar_moves=(digest.CalendarMove("IC-000123-N1W5", date(2026, 6, 12),
                                            date(2026, 6, 15)),),
        health=digest.Health(None, True, 1, 0, 2, ("digest.check",)),
    )
    reminder = reminders.ReminderContext(
        organisation="Example Council", kind="5wd", reference="IC-000123-N1W5", law="FOIA",
        received=date(2026, 3, 2), due=date(2026, 3, 30), working_days_left=5,
        working_days_overdue=0, sought=date(2026, 3, 9), waiting_working_days=20,
        lapses_on=date(2026, 6, 9), message_pk=9, sender="a@example.org", reason="unclear",
    )
    kinds = {"deadline": ("5wd", "due", "overdue:3"),
             "clarification": ("clarification", "clarification_lapsed"),
             "needs_person": ("needs_person",)}
    samples: dict[str, list[Any]] = {
        f"{reminders.TEMPLATES[family]}.txt.j2": [replace(reminder, kind=k) for k in names]
        for family, names in kinds.items()
    }
    samples[f"{digest.TEMPLATE}.txt.j2"] = [sample]
    samples[f"{digest.TEMPLATE}.html.j2"] = [sample]
    return samples
