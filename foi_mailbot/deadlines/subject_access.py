"""UK GDPR subject access: the one-month clock behind `statutory.due_date` for `Law.SAR`.

`statutory.due_date` hands subject access requests here once the events are checked and
sorted; the result is a Deadline citing Art 12(3) and 12A like the working-day clocks. The
month runs from the day of receipt to the corresponding date (ICO reading), a clarification
pauses it, a fee restarts it, an extension adds `ClockPolicy.sar_extension_months`, and a due
date on a weekend or holiday moves to the next working day. Pure: no I/O, no "now".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from foi_mailbot.deadlines.laws import ClockEvent, Deadline, EventKind, Law, Step
from foi_mailbot.deadlines.statutory import ClockError, ClockPolicy, ClockState, add_months
from foi_mailbot.deadlines.workdays import WorkingDays, describe_parts


@dataclass(kw_only=True)
class _Month(ClockState):
    """The subject access clock while events are applied."""

    months: int = 1
    paused_days: int = 0


def _sar_basis(cal: WorkingDays) -> str:
    return (
        "UK GDPR Art 12(3) and 12A: one month beginning with the day of receipt, which the "
        "ICO reads as the corresponding calendar date in the next month (the last day of that "
        "month if there is none), moved to the next working day if it falls on a weekend or "
        f"a public holiday (in {describe_parts(cal.parts)})"
    )


def sar_due(
    received: date, events: Sequence[ClockEvent], policy: ClockPolicy, cal: WorkingDays
) -> Deadline:
    """The subject access Deadline after `events`, already in date order and none early.

    Called by `statutory.due_date`, which checks and sorts the events first.
    """
    month = _Month(
        start=received, steps=[Step(received, "request received: the month runs from here")]
    )
    for event in events:
        _sar_event(month, event, policy)
    basis = _sar_basis(cal)
    reason = month.stopped_reason()
    if reason is not None:
        return Deadline(Law.SAR, None, basis, month.start, tuple(month.steps), (), reason)
    target = add_months(month.start, month.months) + timedelta(days=month.paused_days)
    due = cal.next_working_day(target)
    steps, notes = list(month.steps), []
    day = target
    while day < due:
        steps.append(Step(day, f"not a working day ({cal.why_not_working(day)}): moved forward"))
        if (note := cal.holiday_note(day)) is not None:
            notes.append(note)
        day += timedelta(days=1)
    steps.sort(key=lambda s: s.day)
    return Deadline(Law.SAR, due, basis, month.start, tuple(steps), tuple(notes))


def _sar_event(month: _Month, event: ClockEvent, policy: ClockPolicy) -> None:
    """Apply one event to a subject access clock."""
    if event.kind is EventKind.CLARIFICATION_RECEIVED or event.kind is EventKind.FEES_PAID:
        _sar_resume(month, event)
        return
    month.require_running(event)
    if event.kind is EventKind.CLARIFICATION_SOUGHT:
        month.awaiting_clarification = event.on
        note = "clarification sought (Art 12A): the clock is paused until it arrives"
    elif event.kind is EventKind.FEES_NOTICE:
        month.awaiting_fee = event.on
        note = "fee requested: the month will run from the day the fee is received"
    else:
        if event.days is not None:
            msg = f"a subject access extension is {policy.sar_extension_months} further months"
            msg += ", not a number of days"
            raise ClockError(msg)
        if month.months > 1:
            msg = "a subject access request can be extended only once"
            raise ClockError(msg)
        month.months = 1 + policy.sar_extension_months
        note = f"extended by {policy.sar_extension_months} further months (Art 12A)"
    month.steps.append(Step(event.on, note))


def _sar_resume(month: _Month, event: ClockEvent) -> None:
    """Clarification received (a pause ends) or fee paid (the month starts again)."""
    began = month.resume(event)
    if event.kind is EventKind.CLARIFICATION_RECEIVED:
        # Art 12A counts both the asking day and the receiving day as paused.
        days = (event.on - began).days + 1
        month.paused_days += days
        note = (
            f"clarification received: the {days} days from {began.isoformat()} to "
            f"{event.on.isoformat()} inclusive do not count (Art 12A)"
        )
    else:
        # The relevant time is the latest of receipt and payment: the month starts afresh.
        month.start, month.paused_days = event.on, 0
        note = "fee received: the month runs from this day (the relevant time)"
    month.steps.append(Step(event.on, note))
