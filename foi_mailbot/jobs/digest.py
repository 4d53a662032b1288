"""The weekly digest: a summary of the register for the responsible officer, once per ISO week.

The scheduler checks every few minutes (`send_if_due`); once the configured weekday and time
(`digest.weekday`, `digest.at`, local time) have passed in the current ISO week, the digest is
built, rendered (HTML with a plain-text alternative) and queued, one outbox row per recipient
with the key `digest:{iso_year}-W{week}:{address}`. A daemon that was down at the set time sends
it when it is back, once; a rerun finds the rows and does nothing.

`build_digest` gathers every figure with SQL aggregates and capped lists, never a per-case walk,
so it stays fast on a register of a hundred thousand cases. Its financial-year figures come from
`jobs.stats`, the same functions `foi-mailbot report` uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Final
from zoneinfo import ZoneInfo

import jinja2
import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import ColumnElement

from foi_mailbot.cases.lifecycle import CLOCK_RUNNING_STATES, OPEN_STATES, State
from foi_mailbot.cases.register import Calendars
from foi_mailbot.clock import as_utc
from foi_mailbot.corrections import Corrected, week_summary
from foi_mailbot.deadlines.laws import Law
from foi_mailbot.jobs.recalc import CALENDAR_CAUSE
from foi_mailbot.jobs.stats import (
    Activity,
    Compliance,
    Flagged,
    StateCount,
    WeekVolume,
    activity,
    clarification_sought,
    compliance,
    count_flagged,
    financial_year,
    flagged_messages,
    legislation,
    open_by_state,
    weekly_volumes,
)
from foi_mailbot.oauth.expiry import secret_expiry_warning
from foi_mailbot.outbound.outbox import enqueue
from foi_mailbot.outbound.render import render_pair
from foi_mailbot.outbound.staff_mail import staff_message
from foi_mailbot.settings import DigestSettings, Settings
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import (
    AuditEntry,
    Case,
    InboundMessage,
    MessageStatus,
    OutboxMessage,
    OutboxStatus,
    ServiceState,
)
from foi_mailbot.storage.state import get_state

if TYPE_CHECKING:
    from sqlalchemy.orm import sessionmaker

    from foi_mailbot.cases.service import Services

log = structlog.get_logger(__name__)

TEMPLATE: Final = "digest/weekly"
PURPOSE: Final = "digest"
LIST_LIMIT: Final = 50
"""Each list in the digest shows at most this many entries, then "and N more"."""
SOON_WORKING_DAYS: Final = 5
CHART_WEEKS: Final = 12
WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_OPEN: Final = [s.value for s in OPEN_STATES]
_RUNNING: Final = [s.value for s in CLOCK_RUNNING_STATES]


@dataclass(frozen=True)
class CaseLine:
    """One case in a digest list; `days` is working days left, overdue or waiting."""

    reference: str
    law: str
    status: str
    received: date
    due: date | None
    days: int | None = None
    since: date | None = None
    note: str = ""


@dataclass(frozen=True)
class Listing:
    """A capped list of cases and how many there are in all."""

    lines: tuple[CaseLine, ...]
    total: int

    @property
    def more(self) -> int:
        """How many were left off the list."""
        return self.total - len(self.lines)


@dataclass(frozen=True)
class CalendarMove:
    """A due date moved because the working-day calendar changed."""

    reference: str
    before: date | None
    after: date | None


@dataclass(frozen=True)
class Health:
    """The daemon's own state: last mailbox sync, and what is stuck."""

    last_sync: datetime | None
    sync_stale: bool
    messages_needing_attention: int
    outbox_failed: int
    outbox_waiting: int
    failing_jobs: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Digest:
    """Every figure of one weekly digest (also the template context)."""

    organisation: str
    week: str
    today: date
    period_start: date
    period_end: date
    activity: Activity
    open_total: int
    open_by_state: tuple[StateCount, ...]
    soon_until: date
    due_soon: Listing
    overdue: Listing
    awaiting_clarification: Listing
    reviews: Listing
    needs_person: tuple[Flagged, ...]
    needs_person_total: int
    compliance: Compliance
    weeks: tuple[WeekVolume, ...]
    calendar_moves: tuple[CalendarMove, ...]
    health: Health
    # Of the week's automatic decisions, how many a person corrected, by kind.
    corrections: tuple[Corrected, ...] = ()


def _count(session: Session, *where: ColumnElement[bool]) -> int:
    return int(session.scalar(select(func.count(Case.id)).where(*where)) or 0)


def _line(case: Case, **extra: object) -> CaseLine:
    return CaseLine(
        reference=case.reference,
        law=legislation(case.law),
        status=case.status.replace("_", " "),
        received=case.received_on,
        due=case.due_on,
        **extra,  # type: ignore[arg-type]
    )


def _working_days(calendars: Calendars, case: Case, a: date, b: date) -> int:
    return calendars.for_law(Law(case.law)).working_days_between(a, b)


def _running(
    session: Session, calendars: Calendars, today: date, *where: ColumnElement[bool]
) -> Listing:
    """Cases with their clock running and a due date in range; days left, or days overdue."""
    where = (Case.status.in_(_RUNNING), Case.due_on.is_not(None), *where)
    cases = session.scalars(
        select(Case).where(*where).order_by(Case.due_on, Case.id).limit(LIST_LIMIT)
    )
    lines = [
        _line(c, days=abs(_working_days(calendars, c, today, c.due_on))) for c in cases if c.due_on
    ]
    return Listing(tuple(lines), _count(session, *where))


def _awaiting_clarification(session: Session, calendars: Calendars, today: date) -> Listing:
    sought = clarification_sought()
    where = (Case.status == State.AWAITING_CLARIFICATION.value,)
    rows = session.execute(
        select(Case, sought.c.sought)
        .outerjoin(sought, sought.c.case_id == Case.id)
        .where(*where)
        .order_by(sought.c.sought, Case.id)
        .limit(LIST_LIMIT)
    )
    lines = [
        _line(c, since=on, days=_working_days(calendars, c, on, today) if on else None)
        for c, on in rows
    ]
    return Listing(tuple(lines), _count(session, *where))


def _reviews(session: Session, calendars: Calendars, today: date) -> Listing:
    original = aliased(Case)
    where = (Case.is_review.is_(True), Case.status.in_(_OPEN))
    rows = session.execute(
        select(Case, original.reference)
        .outerjoin(original, Case.original_case_id == original.id)
        .where(*where)
        .order_by(Case.due_on, Case.id)
        .limit(LIST_LIMIT)
    )
    lines = [
        _line(
            c,
            days=_working_days(calendars, c, today, c.due_on) if c.due_on else None,
            note=f"review of {ref}" if ref else "original not linked",
        )
        for c, ref in rows
    ]
    return Listing(tuple(lines), _count(session, *where))


def _calendar_moves(session: Session, since: datetime) -> tuple[CalendarMove, ...]:
    rows = session.execute(
        select(Case.reference, AuditEntry.detail)
        .join(Case, AuditEntry.case_id == Case.id)
        .where(
            AuditEntry.action == "deadline.changed",
            AuditEntry.cause.like(f"{CALENDAR_CAUSE.split()[0]}%"),
            AuditEntry.at >= since,
        )
        .order_by(AuditEntry.id)
        .limit(LIST_LIMIT)
    )
    return tuple(
        CalendarMove(ref, _iso_date((detail or {}).get("before")),
                     _iso_date((detail or {}).get("after")))
        for ref, detail in rows
    )


def _iso_date(value: object) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else None


def _health(session: Session, settings: Settings, now: datetime) -> Health:
    state = get_state(session, "last_sync") or {}
    at = state.get("at")
    last = as_utc(datetime.fromisoformat(at)) if isinstance(at, str) else None
    stale_after = timedelta(seconds=settings.health.stale_after_seconds)

    def outbox(status: str) -> int:
        stmt = select(func.count(OutboxMessage.id)).where(OutboxMessage.status == status)
        return int(session.scalar(stmt) or 0)

    stuck = select(func.count(InboundMessage.id)).where(
        InboundMessage.status == MessageStatus.NEEDS_ATTENTION
    )
    jobs = session.execute(
        select(ServiceState.key, ServiceState.value).where(ServiceState.key.like("job:%"))
    )
    return Health(
        last_sync=last.astimezone(settings.organisation.zone) if last else None,
        sync_stale=last is None or as_utc(now) - last > stale_after,
        messages_needing_attention=int(session.scalar(stuck) or 0),
        outbox_failed=outbox(OutboxStatus.NEEDS_ATTENTION),
        outbox_waiting=outbox(OutboxStatus.PENDING),
        failing_jobs=tuple(sorted(k.removeprefix("job:") for k, v in jobs if "failed_at" in v)),
        warnings=tuple(w for w in [secret_expiry_warning(settings.oauth, now.date())] if w),
    )


def build_digest(
    session: Session,
    settings: Settings,
    calendars: Calendars,
    now: datetime,
    *,
    anchor: date | None = None,
) -> Digest:
    """Every figure of the digest; the week covered is the seven days before `anchor`.

    `anchor` defaults to the day of the latest digest due at `now`; figures about open cases
    are as at `now`.
    """
    zone = settings.organisation.zone
    today = as_utc(now).astimezone(zone).date()
    anchor = anchor or latest_due(settings, now).date()
    start, end = anchor - timedelta(days=7), anchor - timedelta(days=1)
    soon_until = calendars.for_law(Law.FOIA).add_working_days(today, SOON_WORKING_DAYS)[0]
    by_state = open_by_state(session)
    iso = anchor.isocalendar()
    return Digest(
        organisation=settings.organisation.name,
        week=f"{iso.year}-W{iso.week:02d}",
        today=today,
        period_start=start,
        period_end=end,
        activity=activity(session, start, end),
        open_total=sum(s.count for s in by_state),
        open_by_state=by_state,
        soon_until=soon_until,
        due_soon=_running(session, calendars, today, Case.due_on >= today,
                          Case.due_on <= soon_until),
        overdue=_running(session, calendars, today, Case.due_on < today),
        awaiting_clarification=_awaiting_clarification(session, calendars, today),
        reviews=_reviews(session, calendars, today),
        needs_person=tuple(flagged_messages(session, zone, LIST_LIMIT)),
        needs_person_total=count_flagged(session),
        compliance=compliance(session, financial_year(today), until=today),
        weeks=tuple(weekly_volumes(session, end, CHART_WEEKS)),
        # Since the previous digest went out, so no move is listed twice or missed.
        calendar_moves=_calendar_moves(session, digest_due_at(settings.digest, start, zone)),
        health=_health(session, settings, now),
        corrections=week_summary(session, datetime.combine(start, time(), tzinfo=zone),
                                 datetime.combine(anchor, time(), tzinfo=zone)),
    )


def render_digest(env: jinja2.Environment, digest: Digest) -> tuple[str, str]:
    """The digest's plain text and HTML."""
    pair = render_pair(env, TEMPLATE, digest)
    return pair.text, pair.html


def digest_subject(digest: Digest) -> str:
    """The digest's subject line."""
    return f"FOI weekly digest {digest.week}: {digest.overdue.total} overdue, " \
        f"{digest.due_soon.total} due soon"


# --- when it is due, and sending it once -----------------------------------------------------


def digest_due_at(settings: DigestSettings, day: date, zone: ZoneInfo) -> datetime:
    """The instant the digest of the ISO week containing `day` falls due, in local time."""
    monday = day - timedelta(days=day.weekday())
    target = monday + timedelta(days=WEEKDAYS.index(settings.weekday))
    return datetime.combine(target, settings.at, tzinfo=zone)


def latest_due(settings: Settings, now: datetime) -> datetime:
    """The instant of the latest digest due at or before `now`."""
    zone = settings.organisation.zone
    local_day = as_utc(now).astimezone(zone).date()
    due = digest_due_at(settings.digest, local_day, zone)
    if as_utc(now) >= due:
        return due
    return digest_due_at(settings.digest, local_day - timedelta(days=7), zone)


def recipients(settings: Settings) -> list[str]:
    """The responsible officer and any extra recipients, each once."""
    found = [settings.organisation.responsible_officer, *settings.digest.extra_recipients]
    return list(dict.fromkeys(a.strip().lower() for a in found if a.strip()))


def week_key(anchor: date, address: str) -> str:
    """The outbox key of one recipient's digest for the ISO week containing `anchor`."""
    iso = anchor.isocalendar()
    return f"digest:{iso.year}-W{iso.week:02d}:{address}"


def send(
    factory: sessionmaker[Session], services: Services, now: datetime, *, anchor: date
) -> bool:
    """Queue the digest of `anchor`'s ISO week to each recipient not yet sent it."""
    settings = services.settings
    keys = {address: week_key(anchor, address) for address in recipients(settings)}
    with session_scope(factory) as session:
        done = set(
            session.scalars(select(OutboxMessage.key).where(OutboxMessage.key.in_(keys.values())))
        )
        missing = [address for address, key in keys.items() if key not in done]
        if not missing:
            return False
        digest = build_digest(session, settings, services.calendars, now, anchor=anchor)
        text, html = render_digest(services.acks.env, digest)
        for address in missing:
            message, message_id = staff_message(
                settings, to=address, subject=digest_subject(digest), text=text, html=html,
                now=now,
            )
            enqueue(session, key=keys[address], message=message, message_id=message_id,
                    to_email=address, purpose=PURPOSE, now=now, automatic=False)
    log.info("digest.queued", week=digest.week, recipients=len(missing))
    return True


def send_if_due(factory: sessionmaker[Session], services: Services, now: datetime) -> bool:
    """Queue this ISO week's digest once its set weekday and time have passed; else nothing."""
    zone = services.settings.organisation.zone
    due = digest_due_at(services.settings.digest, as_utc(now).astimezone(zone).date(), zone)
    if as_utc(now) < due:
        return False
    return send(factory, services, now, anchor=due.date())


def send_now(factory: sessionmaker[Session], services: Services, now: datetime) -> bool:
    """Queue this ISO week's digest now, even before its set time (once per week all the same)."""
    zone = services.settings.organisation.zone
    today = as_utc(now).astimezone(zone).date()
    due = digest_due_at(services.settings.digest, today, zone)
    return send(factory, services, now, anchor=due.date() if as_utc(now) >= due else today)
