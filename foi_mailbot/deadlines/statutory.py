"""Statutory due dates: the date of receipt and the case's clock events in, a cited Deadline out.

`cases.service` calls `due_date` whenever a case opens or its clock moves (clarification,
fees, extension) and stores the result; reminders and acknowledgements only read it. The
rules, and the choices where the law is ambiguous, are in docs/statutory-clock.md; each choice
is a documented `ClockPolicy` field whose default is the statute and ICO reading. This module
counts the FOIA, EIR and FOISA working days (and their reviews); the UK GDPR subject access
month is counted in `subject_access`. Pure: no I/O, no "now".
"""

from __future__ import annotations

import calendar as month_calendar
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Final, Literal

from foi_mailbot.deadlines.laws import ClockEvent, Deadline, EventKind, Law, Step
from foi_mailbot.deadlines.workdays import ExtraHoliday, WorkingDays
from foi_mailbot.errors import ConfigError, UsageError


class ClockError(UsageError):
    """The clock events cannot apply to this request (wrong order, wrong law, or impossible)."""


@dataclass(frozen=True)
class ClockPolicy:
    """The clock's choices where the law is ambiguous (docs/statutory-clock.md).

    Defaults follow the statute and the ICO.

    - `receipt_on_non_working_day`: "calendar_day" (statute, ICO LTT47: a request received on
      a Saturday has Monday as day 1) or "next_working_day" (the final s.45 Code and many
      authorities: Monday is the date of receipt, so the due date is one working day later).
      Applies to the date of receipt of requests, reviews and clarifications; not to subject
      access, which the ICO counts from the calendar day "whether it is a working day or not".
    - `foisa_fees_notice_day`: "disregarded" (FOISA s.10(2) read like FOIA s.10(2): the
      working days from notice to payment, both inclusive, do not count) or "counted" (the
      SIC's worked example, where the notice day is used up).
    - `sar_holiday_region`: whose public holidays move a subject access due date forward.
    - `pit_extension_days`: FOIA s.10(3) public interest extension; the statute says only
      "reasonable", the ICO expects no more than a further 20 working days.
    - `eir_extension_days`: EIR reg 7(1), 20 to 40 working days.
    - `review_extension_days`: s.45 Code, 20 to 40 working days in exceptional cases.
    - `sar_extension_months`: Art 12A, "two further months".
    - `clarification_closure_months`: no statutory period; how long to wait for an answer
      before closing the request as "no clarification" (by analogy with FOIA s.9(2)).
    - `extra_holidays`: proclaimed holidays the installed `holidays` release does not know,
      as (date, name, parts of the UK).
    """

    receipt_on_non_working_day: Literal["calendar_day", "next_working_day"] = "calendar_day"
    foisa_fees_notice_day: Literal["disregarded", "counted"] = "disregarded"
    sar_holiday_region: str = "ENG"
    pit_extension_days: int = 20
    eir_extension_days: int = 20
    review_extension_days: int = 20
    sar_extension_months: int = 2
    clarification_closure_months: int = 3
    extra_holidays: tuple[ExtraHoliday, ...] = ()

    def __post_init__(self) -> None:
        lengths = (self.pit_extension_days, self.eir_extension_days, self.review_extension_days)
        if min(*lengths, self.sar_extension_months, self.clarification_closure_months) < 1:
            msg = "clock policy extension and closure lengths must be at least 1"
            raise ConfigError(msg)


@dataclass(kw_only=True)
class ClockState:
    """What both clocks track while events apply: where the count starts, its steps, any stop.

    The working-day count below and the subject access month (`subject_access`) extend it.
    """

    start: date
    steps: list[Step]
    awaiting_clarification: date | None = None
    awaiting_fee: date | None = None

    def stopped_reason(self) -> str | None:
        """Why the clock is stopped, or None while it runs."""
        if self.awaiting_clarification is not None:
            return f"awaiting clarification (sought on {self.awaiting_clarification.isoformat()})"
        if self.awaiting_fee is not None:
            return f"awaiting the fee (fees notice given on {self.awaiting_fee.isoformat()})"
        return None

    def require_running(self, event: ClockEvent) -> None:
        """Raise ClockError if `event` arrives while the clock is stopped."""
        reason = self.stopped_reason()
        if reason is not None:
            msg = f"{event.kind.value} on {event.on.isoformat()} while the clock is stopped, "
            raise ClockError(msg + reason)

    def resume(self, event: ClockEvent) -> date:
        """End a stop (clarification or fee) and return the day it began; raise if none."""
        if event.kind is EventKind.CLARIFICATION_RECEIVED:
            began, self.awaiting_clarification = self.awaiting_clarification, None
            cause = EventKind.CLARIFICATION_SOUGHT
        else:
            began, self.awaiting_fee = self.awaiting_fee, None
            cause = EventKind.FEES_NOTICE
        if began is None:
            msg = f"{event.kind.value} on {event.on.isoformat()} with no earlier {cause.value}"
            raise ClockError(msg)
        return began


@dataclass(frozen=True)
class _Rules:
    """What one working-day law says, with the citation for each kind of step."""

    period: int
    basis: str
    clarification: str
    fees: str | None = None
    extension: str | None = None
    single_extension: bool = True


_UK_WIDE = (
    "working days exclude weekends, Christmas Day, Good Friday and bank holidays in any part "
    "of the UK"
)
_SCOTLAND = "working days exclude weekends, Christmas Day and bank holidays in Scotland (s.73)"
_SCOTLAND_EISR = _SCOTLAND.replace("(s.73)", "(FOISA s.73, applied by EISR reg 2(1))")

_RULES: Final[Mapping[Law, _Rules]] = {
    Law.FOIA: _Rules(
        20,
        f"FOIA s.10(1): the 20th working day following the date of receipt; {_UK_WIDE} (s.10(6))",
        "FOIA s.1(3) and s.10(6)(b)",
        fees="FOIA s.10(2)",
        extension="FOIA s.10(3) public interest extension; the ICO expects at most 20 more",
        single_extension=False,
    ),
    Law.EIR: _Rules(
        20,
        "EIR reg 5(2): no later than 20 working days after the date of receipt; "
        f"{_UK_WIDE} (FOIA s.10(6), applied by reg 2(1))",
        "EIR reg 9(4)",
        fees="EIR reg 8 has no express rule; disregarded by analogy with FOIA s.10(2)",
        extension="EIR reg 7(1): complex and voluminous",
    ),
    Law.FOISA: _Rules(
        20,
        f"FOISA s.10(1): the 20th working day after receipt of the request; {_SCOTLAND}",
        "FOISA s.1(3) and s.10(1)(b)",
        fees="FOISA s.10(2)",
    ),
    Law.REVIEW_FOIA: _Rules(
        20,
        "FOIA s.45 Code of Practice (2018): internal review within 20 working days of receipt; "
        f"{_UK_WIDE} (FOIA s.10(6))",
        "s.45 Code: the clarified review request is treated as new",
        extension="s.45 Code: up to 40 working days in exceptional cases",
    ),
    Law.REVIEW_EIR: _Rules(
        40,
        "EIR reg 11(4): reconsideration no later than 40 working days after the date of receipt "
        f"of the representations; {_UK_WIDE} (FOIA s.10(6), applied by reg 2(1))",
        "EIR reg 11: the clarified representations are treated as new",
    ),
    Law.REVIEW_FOISA: _Rules(
        20,
        "FOISA s.21(1): review within 20 working days after receipt of the requirement for "
        f"review; {_SCOTLAND.replace('(s.73)', '(FOISA s.73)')}",
        "FOISA s.21: the clarified requirement for review is treated as new",
    ),
    # The Scottish EIRs count on FOISA's calendar: EISR reg 2(1) gives "working day" the
    # meaning of FOISA s.73.
    Law.EISR: _Rules(
        20,
        "EISR reg 5(2)(a): no later than 20 working days after the date of receipt of the "
        f"request; {_SCOTLAND_EISR}",
        "EISR reg 9: the period runs from receipt of the more particular request",
        fees="EISR reg 8 has no express rule; disregarded by analogy with FOISA s.10(2)",
        extension="EISR reg 7(1): complex and voluminous, up to 40 working days in all",
    ),
    Law.REVIEW_EISR: _Rules(
        20,
        "EISR reg 16(4): review no later than 20 working days after the date of receipt of "
        f"the representations; {_SCOTLAND_EISR}",
        "EISR reg 16: the clarified representations are treated as new",
    ),
}


def calendar_for(law: Law, policy: ClockPolicy | None = None) -> WorkingDays:
    """The working-day calendar `due_date` uses for a law under a policy (cached)."""
    policy = policy or ClockPolicy()
    return _cached_calendar(law, policy.extra_holidays, policy.sar_holiday_region)


@lru_cache(maxsize=64)
def _cached_calendar(law: Law, extra: tuple[ExtraHoliday, ...], sar_region: str) -> WorkingDays:
    return WorkingDays.for_law(law, extra=extra, sar_region=sar_region)


def due_date(
    received: date,
    law: Law,
    events: Sequence[ClockEvent] = (),
    *,
    policy: ClockPolicy | None = None,
    calendar: WorkingDays | None = None,
) -> Deadline:
    """The statutory due date of a request received on `received`, after `events`.

    Events are applied in date order (same-day events in the order given). `calendar`
    defaults to `calendar_for(law, policy)`; a calendar passed in wins over the policy's
    holiday settings. Raises ClockError when the events cannot apply.
    """
    policy = policy or ClockPolicy()
    cal = calendar or calendar_for(law, policy)
    for event in events:
        if event.on < received:
            msg = (
                f"{event.kind.value} on {event.on.isoformat()} is before the date of receipt "
                f"({received.isoformat()})"
            )
            raise ClockError(msg)
    ordered = sorted(events, key=lambda e: e.on)
    if law is Law.SAR:
        # Imported here: the subject access clock builds on this module's policy and state.
        from foi_mailbot.deadlines.subject_access import sar_due

        return sar_due(received, ordered, policy, cal)
    return _working_day_due(received, law, ordered, policy, cal)


def clarification_lapses_on(sought: date, policy: ClockPolicy | None = None) -> date:
    """The day a request with no answer to its clarification may be closed (policy months on)."""
    return add_months(sought, (policy or ClockPolicy()).clarification_closure_months)


def working_days_taken(
    received: date, completed: date, law: Law, calendar: WorkingDays | None = None
) -> int:
    """Working days after the date of receipt up to and including the completion date."""
    return (calendar or calendar_for(law)).working_days_between(received, completed)


def add_months(day: date, months: int) -> date:
    """The same calendar date `months` later, or the last day of that month if there is none."""
    year, month0 = divmod(day.month - 1 + months, 12)
    year += day.year
    last = month_calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day.day, last))


# --- FOIA, EIR, FOISA and reviews: counting working days ------------------------------------


@dataclass(kw_only=True)
class _Count(ClockState):
    """The working-day clock while events are applied."""

    law: Law
    rules: _Rules
    policy: ClockPolicy
    calendar: WorkingDays
    extension_days: int = 0
    extensions: int = 0
    disregarded: int = 0

    def total(self) -> int:
        return self.rules.period + self.extension_days + self.disregarded

    def current_due(self) -> date:
        return self.calendar.add_working_days(self.start, self.total())[0]


def _date_of_receipt(received: date, what: str, count: _Count) -> tuple[date, Step]:
    """The date the count runs from, under the policy for non-working days."""
    cal = count.calendar
    if count.policy.receipt_on_non_working_day == "next_working_day" and not (
        cal.is_working_day(received)
    ):
        start = cal.next_working_day(received)
        note = (
            f"{what} received on a non-working day ({cal.why_not_working(received)}); "
            f"treated as received on {start.isoformat()} (policy: next working day)"
        )
        return start, Step(received, note)
    return received, Step(received, f"{what} received: the date of receipt, not counted")


def _working_day_due(
    received: date, law: Law, events: Sequence[ClockEvent], policy: ClockPolicy, cal: WorkingDays
) -> Deadline:
    """Apply events to a working-day count and build the Deadline."""
    rules = _RULES[law]
    count = _Count(law=law, rules=rules, policy=policy, calendar=cal, start=received, steps=[])
    count.start, step = _date_of_receipt(received, "request", count)
    count.steps.append(step)
    for event in events:
        _HANDLERS[event.kind](count, event)
    reason = count.stopped_reason()
    if reason is not None:
        return Deadline(law, None, rules.basis, count.start, tuple(count.steps), (), reason)
    due, skipped = cal.add_working_days(count.start, count.total())
    notes = tuple(
        note
        for day in cal.holidays_between(count.start, due)
        if (note := cal.holiday_note(day)) is not None
    )
    steps = sorted(count.steps + skipped, key=lambda s: s.day)
    return Deadline(law, due, rules.basis, count.start, tuple(steps), notes)


def _clarification_sought(count: _Count, event: ClockEvent) -> None:
    count.require_running(event)
    count.awaiting_clarification = event.on
    note = f"clarification sought ({count.rules.clarification}): the clock stops until it arrives"
    count.steps.append(Step(event.on, note))


def _clarification_received(count: _Count, event: ClockEvent) -> None:
    count.resume(event)
    # A clarified request is a new request: the count restarts and nothing earlier carries over.
    count.extension_days = count.extensions = count.disregarded = 0
    count.start, _ = _date_of_receipt(event.on, "clarification", count)
    since = "this date"
    if count.start != event.on:
        since = (
            f"{count.start.isoformat()} (policy: a non-working day counts as the next working day)"
        )
    note = (
        f"clarification received ({count.rules.clarification}): a new {count.rules.period} "
        f"working days run from {since}"
    )
    count.steps.append(Step(event.on, note))


def _fees_notice(count: _Count, event: ClockEvent) -> None:
    if count.rules.fees is None:
        msg = f"a fees notice does not apply to {count.law.value}"
        raise ClockError(msg)
    count.require_running(event)
    count.awaiting_fee = event.on
    note = f"fees notice given ({count.rules.fees}): the clock stops until the fee is received"
    count.steps.append(Step(event.on, note))


def _fees_paid(count: _Count, event: ClockEvent) -> None:
    notice = count.resume(event)
    notice_day_counts = count.law is Law.FOISA and count.policy.foisa_fees_notice_day == "counted"
    first = notice if notice_day_counts else notice - timedelta(days=1)
    days = count.calendar.working_days_between(first, event.on)
    count.disregarded += days
    span = "after" if notice_day_counts else "from"
    note = (
        f"fee received: {days} working days {span} {notice.isoformat()} to "
        f"{event.on.isoformat()} inclusive are disregarded ({count.rules.fees})"
    )
    count.steps.append(Step(event.on, note))


def _extension(count: _Count, event: ClockEvent) -> None:
    if count.rules.extension is None:
        msg = f"{count.law.value} has no extension of the time for compliance"
        raise ClockError(msg)
    count.require_running(event)
    if count.rules.single_extension and count.extensions:
        msg = f"{count.law.value} allows only one extension, and it has been applied"
        raise ClockError(msg)
    days = event.days if event.days is not None else _default_extension(count.law, count.policy)
    if days < 1:
        msg = f"an extension must be at least one working day, not {days}"
        raise ClockError(msg)
    late = event.on > count.current_due()
    count.extensions += 1
    count.extension_days += days
    note = f"extended by {days} working days ({count.rules.extension})"
    if late:
        note += "; the extension was notified after the due date had passed"
    count.steps.append(Step(event.on, note))


def _default_extension(law: Law, policy: ClockPolicy) -> int:
    if law is Law.FOIA:
        return policy.pit_extension_days
    if law in (Law.EIR, Law.EISR):
        return policy.eir_extension_days
    return policy.review_extension_days


_HANDLERS: Final[Mapping[EventKind, Callable[[_Count, ClockEvent], None]]] = {
    EventKind.CLARIFICATION_SOUGHT: _clarification_sought,
    EventKind.CLARIFICATION_RECEIVED: _clarification_received,
    EventKind.FEES_NOTICE: _fees_notice,
    EventKind.FEES_PAID: _fees_paid,
    EventKind.EXTENSION: _extension,
}
