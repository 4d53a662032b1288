"""Letters never promise the past: when an acknowledgement waits for a person, and why.

An automatic acknowledgement is held (the case marked, the message flagged) when the mail
arrived more than `replies.acknowledge_within_working_days` working days ago, or the case's due
date has passed, or the mail is history imported with the mailbox ("to confirm": nothing goes
until a person confirms the case). The letter is not queued: its words depend on the day it is
released (late, or due soon), so it is rendered then, by `cases send`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Final
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from foi_mailbot.cases.register import Calendars, add_event, audit
from foi_mailbot.clock import local_date
from foi_mailbot.deadlines.laws import Law
from foi_mailbot.storage.models import Case, InboundMessage

TO_CONFIRM: Final = "to confirm"
LETTER_HELD: Final = "letter held"
DUE_SOON_WORKING_DAYS: Final = 5


@dataclass(frozen=True)
class Hold:
    """Why a letter waits: the hold put on the case, and the reason in words."""

    hold: str
    reason: str


def letter_hold(
    *, history: bool, received: date, today: date, due: date | None, law: Law,
    calendars: Calendars, within: int,
) -> Hold | None:
    """None when an automatic letter may go now; else why it waits for a person."""
    if history:
        return Hold(TO_CONFIRM, "it was in the mailbox before the service started on it; "
                    "confirm the case to have reminders")
    if due is not None and due < today:
        return Hold(LETTER_HELD, f"its due date {due.isoformat()} has passed; a letter now "
                    "would promise the past")
    age = calendars.for_law(law).working_days_between(received, today)
    if age > within:
        return Hold(LETTER_HELD, f"it arrived {age} working days ago (an automatic letter "
                    f"goes within {within})")
    return None


def hold_for(
    case: Case, row: InboundMessage, now: datetime, calendars: Calendars, *, within: int,
    zone: ZoneInfo,
) -> Hold | None:
    """`letter_hold` for a message applied to a case."""
    received, today = local_date(row.arrived_at, zone), local_date(now, zone)
    return letter_hold(history=bool(row.history), received=received, today=today,
                       due=case.due_on, law=Law(case.law), calendars=calendars, within=within)


def put_on_hold(
    session: Session, case: Case, hold: Hold, row: InboundMessage | None, now: datetime
) -> None:
    """Mark the case held, on its timeline and in the audit trail (a stronger hold stays)."""
    if case.hold != TO_CONFIRM:
        case.hold = hold.hold
    add_event(session, case, kind="letter_held", on=local_date(now), now=now,
              message_pk=row.id if row else None, reasons=[hold.reason])
    audit(session, at=now, action="case.letter_held", cause=hold.reason, case=case,
          message_pk=row.id if row else None, detail={"hold": hold.hold})


def lateness(due: date | None, today: date, law: Law, calendars: Calendars
             ) -> tuple[str | None, int, int | None]:
    """For a released letter: ("late" | "due_soon" | None, working days late, days left)."""
    if due is None:
        return None, 0, None
    calendar = calendars.for_law(law)
    if due < today:
        return "late", calendar.working_days_between(due, today), None
    left = calendar.working_days_between(today, due)
    return ("due_soon" if left <= DUE_SOON_WORKING_DAYS else None), 0, left
