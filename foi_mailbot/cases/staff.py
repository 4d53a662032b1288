"""What a staff message does to its case: the inferred action becomes a lifecycle event and,
where the law says so, a clock event; the deadline is then recomputed from the timeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from foi_mailbot.cases.lifecycle import Event, State
from foi_mailbot.cases.register import Calendars, add_event, move, refresh_deadline
from foi_mailbot.cases.staff_actions import (
    ActionKind,
    StaffAction,
    event_for,
    infer_staff_action,
)
from foi_mailbot.clock import local_date
from foi_mailbot.deadlines.laws import EventKind, Law
from foi_mailbot.errors import IllegalTransition
from foi_mailbot.parsing.parsed import ParsedMail
from foi_mailbot.storage.models import Case, InboundMessage

# Staff actions that move the statutory clock, and the clock event each records.
_CLOCK: dict[ActionKind, EventKind] = {
    ActionKind.CLARIFY: EventKind.CLARIFICATION_SOUGHT,
    ActionKind.EXTEND: EventKind.EXTENSION,
    ActionKind.FEES: EventKind.FEES_NOTICE,
    ActionKind.PAID: EventKind.FEES_PAID,
}
_NO_CHANGE = frozenset({
    ActionKind.ACKNOWLEDGE, ActionKind.REVIEW_ACKNOWLEDGE, ActionKind.HOLDING, ActionKind.NONE,
})


@dataclass
class StaffResult:
    """What the staff message did, and anything a person must check."""

    effect: str
    attention: list[str] = field(default_factory=list)


def apply_staff_action(
    session: Session,
    calendars: Calendars,
    case: Case,
    row: InboundMessage,
    mail: ParsedMail,
    now: datetime,
    *,
    zone: ZoneInfo,
) -> StaffResult:
    """Infer the staff action and apply it to the case, or flag it when it does not fit."""
    on = local_date(row.arrived_at, zone)
    action = infer_staff_action(mail, today=on)
    reasons = list(action.reasons)
    if action.kind in _NO_CHANGE:
        add_event(session, case, kind=f"staff_{action.kind.value}", on=on, now=now,
                  message_pk=row.id, reasons=reasons)
        return StaffResult(f"staff {action.kind.value} recorded on {case.reference}; no change")
    clock = _CLOCK.get(action.kind)
    event = event_for(action, State(case.status))
    days = _extension_days(case, action, calendars)
    try:
        move(session, case, event, now, row, reasons, clock_event=clock, on=on, days=days)
    except IllegalTransition as exc:
        add_event(session, case, kind="staff_unapplied", on=on, now=now, message_pk=row.id,
                  reasons=[*reasons, str(exc)])
        return StaffResult(f"staff {action.kind.value} not applied to {case.reference}",
                           [f"{case.reference}: {exc}"])
    if action.kind in (ActionKind.RESPOND, ActionKind.REVIEW_OUTCOME):
        _record_response(session, case, action, on, calendars, now, row)
    elif clock is not None:
        refresh_deadline(session, case, calendars, now=now, cause=f"staff message {row.id}")
    if action.kind is ActionKind.REOPEN:
        case.completed_on, case.on_time, case.outcome = None, None, None
    return StaffResult(f"{case.reference}: {action.kind.value} ({'; '.join(reasons)}), "
                       f"now {case.status}, due {case.due_on}")


def _extension_days(case: Case, action: StaffAction, calendars: Calendars) -> int | None:
    if action.kind is not ActionKind.EXTEND:
        return None
    if action.new_due is not None and case.due_on is not None:
        counted = calendars.for_law(Law(case.law)).working_days_between(case.due_on, action.new_due)
        if counted > 0:
            return counted
    return action.extension_days


def _record_response(
    session: Session,
    case: Case,
    action: StaffAction,
    on: date,
    calendars: Calendars,
    now: datetime,
    row: InboundMessage,
) -> None:
    completed = on
    case.completed_on = completed
    case.on_time = case.due_on is None or completed <= case.due_on
    case.working_days_taken = calendars.for_law(Law(case.law)).working_days_between(
        case.received_on, completed
    )
    case.sections = list(action.sections)
    if action.kind is ActionKind.REVIEW_OUTCOME and action.review_outcome is not None:
        case.outcome = action.review_outcome.value
        original = session.get(Case, case.original_case_id) if case.original_case_id else None
        if original is not None and original.status == State.UNDER_REVIEW.value:
            move(session, original, Event.REVIEW_OUTCOME, now, row,
                 [f"review {case.reference} outcome: {case.outcome}"])
    elif action.outcome is not None:
        case.outcome = action.outcome.value
