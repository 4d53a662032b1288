"""The statutory clock: working-day calendars and due dates with their reasons (pure).

`cases.service` calls `due_date` to compute a case's Deadline; everything here is a pure
function of dates, events and a `WorkingDays` calendar.
"""

from foi_mailbot.deadlines.laws import ClockEvent, Deadline, EventKind, Law, Step
from foi_mailbot.deadlines.statutory import (
    ClockError,
    ClockPolicy,
    add_months,
    calendar_for,
    clarification_lapses_on,
    due_date,
    working_days_taken,
)
from foi_mailbot.deadlines.workdays import ExtraHoliday, WorkingDays

__all__ = [
    "ClockError",
    "ClockEvent",
    "ClockPolicy",
    "Deadline",
    "EventKind",
    "ExtraHoliday",
    "Law",
    "Step",
    "WorkingDays",
    "add_months",
    "calendar_for",
    "clarification_lapses_on",
    "due_date",
    "working_days_taken",
]
