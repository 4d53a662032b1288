"""The case register's write operations: open a case, add timeline events, recompute its deadline.

Called inside the caller's transaction; every change here also writes an audit entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from foi_mailbot.cases.lifecycle import Event, State, transition
from foi_mailbot.cases.reference import ReferenceCodec
from foi_mailbot.clock import local_date
from foi_mailbot.deadlines.laws import ClockEvent, Deadline, EventKind, Law
from foi_mailbot.deadlines.record import deadline_json
from foi_mailbot.deadlines.statutory import ClockPolicy, calendar_for, due_date
from foi_mailbot.deadlines.workdays import WorkingDays
from foi_mailbot.storage.models import AuditEntry, Case, CaseEvent, Counter, InboundMessage

REFERENCE_COUNTER = "case_reference"


@dataclass(frozen=True)
class Calendars:
    """The clock policy, and through it one working-day calendar per law."""

    policy: ClockPolicy

    def for_law(self, law: Law) -> WorkingDays:
        """The working-day calendar a law counts in."""
        return calendar_for(law, self.policy)


# Run on the session's connection, as Core: the ORM's bulk-update path around the same SQL
# costs ten times more, and no Counter object is ever loaded for it to keep in step.
_NEXT_NUMBER = (
    update(Counter)
    .where(Counter.name == REFERENCE_COUNTER)
    .values(value=Counter.value + 1)
    .returning(Counter.value)
)


def next_number(session: Session) -> int:
    """Allocate the next reference number; gap-free because the row lock is held to commit."""
    value = session.connection().execute(_NEXT_NUMBER).scalar_one_or_none()
    if value is None:
        msg = "the reference counter is missing: run `foi-mailbot db upgrade`"
        raise RuntimeError(msg)
    return int(value)


def audit(
    session: Session,
    *,
    at: datetime,
    action: str,
    cause: str,
    case: Case | None = None,
    message_pk: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one audit entry."""
    session.add(
        AuditEntry(
            at=at,
            case=case,
            message_pk=message_pk,
            action=action,
            cause=cause,
            detail=detail,
        )
    )


def clock_events(case: Case) -> list[ClockEvent]:
    """The clock events on a case's timeline, oldest first."""
    return [
        ClockEvent(kind=EventKind(e.clock_event), on=e.on, days=e.days)
        for e in case.events
        if e.clock_event
    ]


def compute_deadline(case: Case, calendars: Calendars) -> Deadline:
    """The case's deadline from its date of receipt and its clock events."""
    law = Law(case.law)
    return due_date(
        case.received_on,
        law,
        clock_events(case),
        policy=calendars.policy,
        calendar=calendars.for_law(law),
    )


def refresh_deadline(
    session: Session, case: Case, calendars: Calendars, *, now: datetime, cause: str
) -> Deadline:
    """Recompute and store the deadline; audit the change when the date moved."""
    before = case.due_on
    deadline = _store_deadline(case, calendars, now)
    if before != deadline.due:
        audit(
            session,
            at=now,
            action="deadline.changed",
            cause=cause,
            case=case,
            detail={
                "before": before.isoformat() if before else None,
                "after": deadline.due.isoformat() if deadline.due else None,
            },
        )
    return deadline


def _store_deadline(case: Case, calendars: Calendars, now: datetime) -> Deadline:
    deadline = compute_deadline(case, calendars)
    case.due_on = deadline.due
    case.deadline = deadline_json(deadline)
    case.calendar_fingerprint = calendars.for_law(Law(case.law)).fingerprint()
    case.updated_at = now
    return deadline


@dataclass(frozen=True)
class NewCase:
    """What is needed to open a case."""

    law: Law
    applicant_name: str
    applicant_email: str
    subject: str
    received_at: datetime
    received_on: date
    message_pk: int | None
    status: str
    original: Case | None = None


def open_case(
    session: Session, new: NewCase, *, codec: ReferenceCodec, calendars: Calendars, now: datetime
) -> Case:
    """Open a case with a fresh reference and its first deadline."""
    number = next_number(session)
    case = Case(
        number=number,
        reference=codec.format(number),
        law=new.law.value,
        is_review=new.law.is_review,
        original_case_id=new.original.id if new.original else None,
        applicant_name=new.applicant_name,
        applicant_email=new.applicant_email,
        subject=new.subject,
        status=new.status,
        received_at=new.received_at,
        received_on=new.received_on,
        opened_by=new.message_pk,
        created_at=now,
        updated_at=now,
        events=[],  # known empty: its first event is not preceded by a query for the others
    )
    session.add(case)  # written, and given its id, with the rest of the message's changes
    add_event(
        session,
        case,
        kind="opened",
        on=new.received_on,
        now=now,
        message_pk=new.message_pk,
        reasons=[f"opened as {new.law.value} from the message received on {new.received_on}"],
        status_after=new.status,
    )
    # The first deadline is no change to audit: the opening's entry gives it.
    _store_deadline(case, calendars, now)
    audit(
        session,
        at=now,
        action="case.opened",
        cause="new message" if new.message_pk else "manual",
        case=case,
        message_pk=new.message_pk,
        detail={"reference": case.reference, "law": case.law, "due": _iso(case.due_on)},
    )
    return case


def add_event(
    session: Session,
    case: Case,
    *,
    kind: str,
    on: date,
    now: datetime,
    message_pk: int | None = None,
    outbox_pk: int | None = None,
    clock_event: EventKind | None = None,
    days: int | None = None,
    reasons: list[str] | None = None,
    status_after: str | None = None,
) -> CaseEvent:
    """Append a timeline entry (and a clock event when `clock_event` is given)."""
    event = CaseEvent(
        case=case,
        kind=kind,
        clock_event=clock_event.value if clock_event else None,
        on=on,
        days=days,
        message_pk=message_pk,
        outbox_pk=outbox_pk,
        reasons=reasons,
        status_before=case.status,
        status_after=status_after or case.status,
        due_before=case.due_on,
        created_at=now,
    )
    # Added to the session, not appended to `case.events`: that would read the case's whole
    # timeline first. A timeline read later still shows it.
    session.add(event)
    return event


def move(
    session: Session,
    case: Case,
    event: Event,
    now: datetime,
    row: InboundMessage | None,
    reasons: list[str],
    *,
    clock_event: EventKind | None = None,
    on: date | None = None,
    days: int | None = None,
) -> None:
    """Apply a lifecycle event (raises IllegalTransition) and record it on the timeline,
    dated `on`: a date in the organisation's time zone, which every caller in the message
    path gives (without it, the default zone's date of `now`)."""
    after = transition(State(case.status), event)
    add_event(
        session,
        case,
        kind=event.value,
        on=on if on is not None else local_date(now),
        now=now,
        message_pk=row.id if row else None,
        clock_event=clock_event,
        days=days,
        reasons=[r for r in reasons if r],
        status_after=after.value,
    )
    audit(
        session,
        at=now,
        action=f"case.{event.value}",
        cause=f"message {row.id}" if row else "system",
        case=case,
        message_pk=row.id if row else None,
        detail={"from": case.status, "to": after.value},
    )
    case.status = after.value
    case.updated_at = now


def find_case(session: Session, reference: str) -> Case | None:
    """The case with this reference, if any."""
    return session.scalars(select(Case).where(Case.reference == reference)).first()


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None
