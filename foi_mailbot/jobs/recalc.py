"""Calendar changes: recompute every open deadline when the working-day calendar has changed.

A proclaimed bank holiday added to `clock.extra_holidays`, or a new release of `holidays`,
changes a law's calendar and so its `fingerprint()`. Each case stores the fingerprint its
deadline was computed with; this job, run at start-up and by every reminder sweep, finds open
cases whose fingerprint differs and recomputes their deadline from their timeline (the
calendar in force when the deadline is computed wins: docs/statutory-clock.md). A moved due
date gets an audit entry `deadline.changed` with cause "calendar changed", which the next
digest lists.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Final

import structlog
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from foi_mailbot.cases.lifecycle import OPEN_STATES
from foi_mailbot.cases.register import Calendars, refresh_deadline
from foi_mailbot.cases.register_import import IMPORTED
from foi_mailbot.deadlines.laws import Law
from foi_mailbot.errors import UsageError
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import Case

if TYPE_CHECKING:
    from sqlalchemy.orm import sessionmaker

log = structlog.get_logger(__name__)

CALENDAR_CAUSE: Final = "calendar changed"
"""The audit cause of a deadline moved by a calendar change; the digest looks for "calendar"."""

Moved = tuple[str, date | None, date | None]
"""A case whose due date moved: (reference, due before, due after)."""


def stale_cases(session: Session, calendars: Calendars) -> list[Case]:
    """Open cases whose deadline was computed on a calendar other than today's."""
    # The same call `register.refresh_deadline` stores, so the two always agree.
    current = {law.value: calendars.for_law(law).fingerprint() for law in Law}
    outdated = or_(
        Case.calendar_fingerprint.is_(None),
        *(and_(Case.law == law, Case.calendar_fingerprint != fp) for law, fp in current.items()),
    )
    return list(
        session.scalars(
            select(Case)
            .where(Case.status.in_([s.value for s in OPEN_STATES]), outdated,
                   # A due date taken from an imported register is kept as given.
                   or_(Case.calendar_fingerprint.is_(None),
                       Case.calendar_fingerprint != IMPORTED))
            .order_by(Case.id)
        )
    )


def recompute(session: Session, calendars: Calendars, now: datetime) -> list[Moved]:
    """Recompute stale open deadlines in the caller's transaction; return those that moved."""
    moved: list[Moved] = []
    for case in stale_cases(session, calendars):
        before = case.due_on
        try:
            refresh_deadline(session, case, calendars, now=now, cause=CALENDAR_CAUSE)
        except UsageError as exc:
            # A timeline the clock cannot apply was flagged when it was recorded; keep going.
            log.warning("deadline.recompute_failed", case_ref=case.reference, error=str(exc))
            continue
        if case.due_on != before:
            moved.append((case.reference, before, case.due_on))
            log.info(
                "deadline.moved_by_calendar",
                case_ref=case.reference,
                before=before.isoformat() if before else None,
                after=case.due_on.isoformat() if case.due_on else None,
            )
    return moved


def recompute_open_deadlines(
    factory: sessionmaker[Session], calendars: Calendars, now: datetime
) -> list[Moved]:
    """Recompute every open deadline computed on an outdated calendar, in one transaction."""
    with session_scope(factory) as session:
        return recompute(session, calendars, now)
