"""The reminder sweep: deadlines coming up, due, overdue; unanswered clarifications; flagged mail.

Run every few minutes by the scheduler and by `foi-mailbot remind`. It is a thin, idempotent
sweep over our own tables: it works out from `now` which reminders apply, skips those whose
outbox row exists, and enqueues the rest to the FOI team address. Each outbox `key` names the
case, the due date and the kind (`reminder:{case_id}:{due_iso}:5wd`, `...:due`,
`...:overdue:{n}`), so each reminder goes out exactly once whatever the restarts, and a due
date that moves (an extension, a clarification) gets fresh reminders.

Only the latest applicable reminder of a case is sent: a daemon that was down across "5 working
days before" and "1 working day before" sends the second only, and one down for a week of an
overdue case sends one overdue reminder, not one per missed day. A reminder for a day falls due
at `reminders.send_at` local time on that day. Messages flagged for a person are the triage
sweep's (`triage.notices`): a notice each, or a line in the daily summary.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Final
from zoneinfo import ZoneInfo

import jinja2
import structlog
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session, aliased

from foi_mailbot.cases.holding import TO_CONFIRM
from foi_mailbot.cases.lifecycle import CLOCK_RUNNING_STATES, State, clock_running, is_open
from foi_mailbot.cases.register import Calendars
from foi_mailbot.clock import as_utc
from foi_mailbot.deadlines.laws import Law
from foi_mailbot.deadlines.statutory import clarification_lapses_on
from foi_mailbot.deadlines.workdays import WorkingDays
from foi_mailbot.jobs.recalc import recompute_open_deadlines
from foi_mailbot.jobs.stats import clarification_sought, legislation
from foi_mailbot.outbound.outbox import enqueue
from foi_mailbot.outbound.render import render_text
from foi_mailbot.outbound.staff_mail import staff_message
from foi_mailbot.settings import Settings
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import Case, OutboxMessage

if TYPE_CHECKING:
    from sqlalchemy.orm import sessionmaker

    from foi_mailbot.cases.service import Services

log = structlog.get_logger(__name__)

PURPOSE: Final = "reminder"
TEMPLATES: Final = {
    "deadline": "staff/deadline_reminder",
    "clarification": "staff/clarification_reminder",
    "needs_person": "staff/needs_person",
}
_KEY_CHUNK: Final = 500


@dataclass(frozen=True)
class Stage:
    """Which reminder of a deadline applies: its key suffix and the day it fell due."""

    kind: str
    day: date


def reminder_day(now: datetime, zone: ZoneInfo, send_at: time) -> date:
    """The latest local day whose reminders are due at `now` (before `send_at`, yesterday)."""
    local = as_utc(now).astimezone(zone)
    return local.date() if local.time() >= send_at else local.date() - timedelta(days=1)


def working_day_before(calendar: WorkingDays, day: date, n: int) -> date:
    """The working day `n` working days before `day` (so `day` is its n-th working day)."""
    counted = 0
    while counted < n:
        day -= timedelta(days=1)
        counted += calendar.is_working_day(day)
    return day


def deadline_stage(
    due: date,
    today: date,
    calendar: WorkingDays,
    *,
    days_before: Sequence[int],
    overdue_every: int,
) -> Stage | None:
    """The latest reminder of a deadline that applies on `today`, or None before the first."""
    if today >= due:
        overdue = calendar.working_days_between(due, today)
        if overdue >= overdue_every:
            steps = overdue - overdue % overdue_every
            return Stage(f"overdue:{steps}", calendar.add_working_days(due, steps)[0])
        return Stage("due", due)
    for n in sorted(d for d in set(days_before) if d > 0):
        day = working_day_before(calendar, due, n)
        if day <= today:
            return Stage(f"{n}wd", day)
    return None


def clarification_stage(
    sought: date, today: date, calendar: WorkingDays, *, chase_after: int, lapses_on: date
) -> Stage | None:
    """The latest reminder about an unanswered clarification that applies on `today`."""
    if today >= lapses_on:
        return Stage("clarification_lapsed", lapses_on)
    chase = calendar.add_working_days(sought, chase_after)[0]
    return Stage("clarification", chase) if today >= chase else None


@dataclass(frozen=True)
class ReminderContext:
    """Everything a staff reminder template may show (`kind` says which reminder it is)."""

    organisation: str
    kind: str
    reference: str = ""
    law: str = ""
    is_review: bool = False
    review_of: str | None = None
    status: str = ""
    case_subject: str = ""
    received: date | None = None
    due: date | None = None
    working_days_left: int | None = None
    working_days_overdue: int | None = None
    sought: date | None = None
    waiting_working_days: int | None = None
    lapses_on: date | None = None
    message_pk: int | None = None
    sender: str = ""
    reason: str = ""


@dataclass(frozen=True)
class PlannedReminder:
    """One reminder that is due now and not yet queued; `context` is what its template shows."""

    key: str
    template: str
    case_id: int | None
    subject: str
    context: ReminderContext

    def describe(self) -> str:
        """One line for `foi-mailbot remind --dry-run`."""
        return f"{self.key}  {self.subject}"


def reminder_subject(ctx: ReminderContext) -> str:
    """The subject line of a reminder; it starts with the case reference where there is one."""
    what = "Internal review" if ctx.is_review else "Request"
    if ctx.kind == "needs_person":
        return f"Message #{ctx.message_pk} needs a person"
    if ctx.kind == "clarification":
        waited = ctx.waiting_working_days
        return f"[{ctx.reference}] Clarification unanswered for {waited} working days"
    if ctx.kind == "clarification_lapsed":
        return f"[{ctx.reference}] Clarification unanswered: the request may now be closed"
    if ctx.kind == "due":
        return f"[{ctx.reference}] {what} due today"
    if ctx.kind.startswith("overdue"):
        return f"[{ctx.reference}] {what} OVERDUE by {ctx.working_days_overdue} working days"
    return f"[{ctx.reference}] {what} due in {ctx.working_days_left} working days"


def _existing(session: Session, keys: Iterable[str]) -> set[str]:
    wanted = list(keys)
    found: set[str] = set()
    for index in range(0, len(wanted), _KEY_CHUNK):
        chunk = wanted[index : index + _KEY_CHUNK]
        found.update(session.scalars(select(OutboxMessage.key).where(OutboxMessage.key.in_(chunk))))
    return found


def _horizon(calendars: Calendars, today: date, days_before: Sequence[int]) -> date:
    """A day no case due later can have a reminder today (FOIA's calendar skips the most days)."""
    furthest = max([0, *days_before])
    return calendars.for_law(Law.FOIA).add_working_days(today, furthest)[0] + timedelta(days=7)


def _case_context(
    settings: Settings, case: Case, kind: str, review_of: str | None
) -> ReminderContext:
    return ReminderContext(
        organisation=settings.organisation.name,
        kind=kind,
        reference=case.reference,
        law=legislation(case.law),
        is_review=case.is_review,
        review_of=review_of,
        status=case.status,
        case_subject=case.subject,
        received=case.received_on,
        due=case.due_on,
    )


def _planned(key: str, family: str, case_id: int | None, ctx: ReminderContext) -> PlannedReminder:
    return PlannedReminder(
        key=key,
        template=TEMPLATES[family],
        case_id=case_id,
        subject=reminder_subject(ctx),
        context=ctx,
    )


def _deadline_reminders(
    session: Session, settings: Settings, calendars: Calendars, today: date
) -> list[PlannedReminder]:
    rules = settings.reminders
    original = aliased(Case)
    rows = session.execute(
        select(Case, original.reference)
        .outerjoin(original, Case.original_case_id == original.id)
        .where(
            Case.status.in_([s.value for s in CLOCK_RUNNING_STATES]),
            _not_to_confirm(),
            Case.due_on.is_not(None),
            Case.due_on <= _horizon(calendars, today, rules.days_before),
        )
        .order_by(Case.due_on, Case.id)
    )
    planned = []
    for case, review_of in rows:
        state = State(case.status)
        if case.due_on is None or not (is_open(state) and clock_running(state)):
            continue
        calendar = calendars.for_law(Law(case.law))
        stage = deadline_stage(
            case.due_on,
            today,
            calendar,
            days_before=rules.days_before,
            overdue_every=rules.overdue_every_working_days,
        )
        if stage is None:
            continue
        context = replace(
            _case_context(settings, case, stage.kind, review_of),
            working_days_left=max(0, calendar.working_days_between(today, case.due_on)),
            working_days_overdue=max(0, calendar.working_days_between(case.due_on, today)),
        )
        key = f"reminder:{case.id}:{case.due_on.isoformat()}:{stage.kind}"
        planned.append(_planned(key, "deadline", case.id, context))
    return planned


def _clarification_reminders(
    session: Session, settings: Settings, calendars: Calendars, today: date
) -> list[PlannedReminder]:
    sought = clarification_sought()
    rows = session.execute(
        select(Case, sought.c.sought)
        .join(sought, sought.c.case_id == Case.id)
        .where(Case.status == State.AWAITING_CLARIFICATION.value, _not_to_confirm())
        .order_by(Case.id)
    )
    planned = []
    for case, asked in rows:
        calendar = calendars.for_law(Law(case.law))
        lapses_on = clarification_lapses_on(asked, calendars.policy)
        stage = clarification_stage(
            asked,
            today,
            calendar,
            chase_after=settings.reminders.clarification_chase_working_days,
            lapses_on=lapses_on,
        )
        if stage is None:
            continue
        context = replace(
            _case_context(settings, case, stage.kind, None),
            sought=asked,
            waiting_working_days=calendar.working_days_between(asked, today),
            lapses_on=lapses_on,
        )
        key = f"reminder:{case.id}:{asked.isoformat()}:{stage.kind}"
        planned.append(_planned(key, "clarification", case.id, context))
    return planned


def plan(
    session: Session, settings: Settings, calendars: Calendars, now: datetime
) -> list[PlannedReminder]:
    """Every reminder due at `now` and not yet in the outbox (what `--dry-run` lists)."""
    today = reminder_day(now, settings.organisation.zone, settings.reminders.send_at)
    candidates = [
        *_deadline_reminders(session, settings, calendars, today),
        *_clarification_reminders(session, settings, calendars, today),
        # Messages needing a person are the triage sweep's (`triage.notices`): one notice each.
    ]
    done = _existing(session, (p.key for p in candidates))
    return [p for p in candidates if p.key not in done]


def _enqueue(
    session: Session, settings: Settings, env: jinja2.Environment, item: PlannedReminder,
    now: datetime,
) -> OutboxMessage | None:
    text = render_text(env, item.template, item.context)
    to = settings.organisation.team_address
    message, message_id = staff_message(
        settings, to=to, subject=item.subject, text=text, html=None, now=now
    )
    case = session.get(Case, item.case_id) if item.case_id is not None else None
    return enqueue(
        session,
        key=item.key,
        message=message,
        message_id=message_id,
        to_email=to,
        purpose=PURPOSE,
        now=now,
        case=case,
        automatic=False,
    )


def sweep(
    factory: sessionmaker[Session], services: Services, now: datetime
) -> list[OutboxMessage]:
    """Queue every reminder due at `now` (after recomputing deadlines a calendar change moved)."""
    recompute_open_deadlines(factory, services.calendars, now)
    queued: list[OutboxMessage] = []
    with session_scope(factory) as session:
        for item in plan(session, services.settings, services.calendars, now):
            row = _enqueue(session, services.settings, services.acks.env, item, now)
            if row is not None:
                queued.append(row)
    for row in queued:
        log.info("reminder.queued", key=row.key, outbox_id=row.id)
    return queued


def _not_to_confirm() -> ColumnElement[bool]:
    """Cases imported with the mailbox's history get no reminder until a person confirms them."""
    return or_(Case.hold.is_(None), Case.hold != TO_CONFIRM)
