"""Statutory due dates: tables of (received, expected due) and every clock event.

The rules and their sources: docs/statutory-clock.md.
"""

from __future__ import annotations

from datetime import date

import pytest

from foi_mailbot.deadlines.laws import ClockEvent, EventKind, Law, Step
from foi_mailbot.deadlines.statutory import (
    ClockError,
    ClockPolicy,
    add_months,
    calendar_for,
    clarification_lapses_on,
    due_date,
    working_days_taken,
)
from foi_mailbot.errors import UsageError

D = date
SOUGHT = EventKind.CLARIFICATION_SOUGHT
CLARIFIED = EventKind.CLARIFICATION_RECEIVED
NOTICE = EventKind.FEES_NOTICE
PAID = EventKind.FEES_PAID
EXTENDED = EventKind.EXTENSION


def ev(kind: EventKind, on: date, days: int | None = None) -> ClockEvent:
    return ClockEvent(kind, on, days)


@pytest.mark.parametrize(
    ("received", "law", "due"),
    [
        # ICO acknowledgements (docs/statutory-clock.md).
        (D(2021, 6, 13), Law.FOIA, D(2021, 7, 9)),
        (D(2021, 7, 7), Law.FOIA, D(2021, 8, 6)),
        # Christmas and New Year, with Scottish 2 Jan substitutes counting for FOIA.
        (D(2020, 12, 18), Law.FOIA, D(2021, 1, 21)),
        (D(2022, 12, 16), Law.FOIA, D(2023, 1, 19)),
        (D(2026, 12, 18), Law.FOIA, D(2027, 1, 21)),
        # Good Friday and Easter Monday (and the early May holiday).
        (D(2021, 4, 1), Law.FOIA, D(2021, 5, 4)),
        # 12 July (NI) and the first Monday in August (Scotland).
        (D(2021, 7, 2), Law.FOIA, D(2021, 8, 3)),
        # One-offs: VE Day 2020, Platinum Jubilee 2022, State Funeral 2022, Coronation 2023.
        (D(2020, 5, 1), Law.FOIA, D(2020, 6, 2)),
        (D(2022, 5, 27), Law.FOIA, D(2022, 6, 28)),
        (D(2022, 9, 9), Law.FOIA, D(2022, 10, 10)),
        (D(2023, 4, 28), Law.FOIA, D(2023, 5, 31)),
        # Receipt on a weekend or a holiday: the calendar day is the date of receipt.
        (D(2021, 6, 12), Law.FOIA, D(2021, 7, 9)),
        (D(2021, 5, 31), Law.FOIA, D(2021, 6, 28)),
        # EIR and FOIA reviews count exactly like FOIA.
        (D(2021, 7, 7), Law.EIR, D(2021, 8, 6)),
        (D(2021, 7, 7), Law.REVIEW_FOIA, D(2021, 8, 6)),
        # EIR reg 11 reconsideration: 40 working days.
        (D(2021, 1, 4), Law.REVIEW_EIR, D(2021, 3, 1)),
        # FOISA: Easter Monday and 12 July count, 2 August does not.
        (D(2021, 4, 1), Law.FOISA, D(2021, 4, 30)),
        (D(2021, 7, 2), Law.FOISA, D(2021, 7, 30)),
        (D(2021, 7, 2), Law.REVIEW_FOISA, D(2021, 7, 30)),
        (D(2022, 9, 9), Law.FOISA, D(2022, 10, 10)),
    ],
)
def test_due_date_is_the_20th_working_day_after_receipt(
    received: date, law: Law, due: date
) -> None:
    """Each row is a receipt date and the due date worked out by hand."""
    deadline = due_date(received, law)

    assert due == deadline.due
    assert received == deadline.start
    assert deadline.stopped_reason is None


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (D(2023, 1, 31), D(2023, 2, 28)),
        (D(2024, 1, 31), D(2024, 2, 29)),
        (D(2023, 1, 30), D(2023, 2, 28)),
        (D(2024, 1, 30), D(2024, 2, 29)),
        (D(2019, 9, 3), D(2019, 10, 3)),
        # 24 Dec 2022 is a Saturday, then Christmas and Boxing Day substitutes.
        (D(2022, 11, 24), D(2022, 12, 28)),
        # 30 Apr 2023 is a Sunday and 1 May the early May holiday.
        (D(2023, 3, 31), D(2023, 5, 2)),
        # Received on a Saturday: the day itself starts the month.
        (D(2024, 6, 1), D(2024, 7, 1)),
    ],
)
def test_subject_access_is_due_on_the_corresponding_date_next_month(
    received: date, due: date
) -> None:
    """The ICO reading: same date, else the month's last day, then the next working day."""
    assert due == due_date(received, Law.SAR).due


def test_subject_access_roll_forward_uses_the_configured_region() -> None:
    """12 Jul 2021 is a working day in England but not in Northern Ireland."""
    english = due_date(D(2021, 6, 12), Law.SAR)
    northern_irish = due_date(D(2021, 6, 12), Law.SAR, policy=ClockPolicy(sar_holiday_region="NIR"))

    assert D(2021, 7, 12) == english.due
    assert D(2021, 7, 13) == northern_irish.due
    assert ("12 July is a bank holiday in Northern Ireland",) == northern_irish.holiday_notes


def test_ico_example_cites_the_section_and_explains_the_regional_holidays() -> None:
    """The ICO's 7 Jul 2021 example carries its basis, skipped days and holiday notes."""
    deadline = due_date(D(2021, 7, 7), Law.FOIA)

    assert deadline.basis.startswith("FOIA s.10(1): the 20th working day following")
    assert "any part of the UK (s.10(6))" in deadline.basis
    assert (
        "12 July is a bank holiday in Northern Ireland",
        "2 August is a bank holiday in Scotland",
    ) == deadline.holiday_notes
    assert Step(D(2021, 7, 12), "not counted: Battle of the Boyne (Northern Ireland)") in (
        deadline.steps
    )
    assert Step(D(2021, 8, 2), "not counted: Summer Bank Holiday (Scotland)") in deadline.steps
    assert "Due 2021-08-06." == deadline.explanation()[-1]


def test_foisa_basis_cites_section_73() -> None:
    """FOISA deadlines cite s.10(1) and the Scottish working-day definition."""
    basis = due_date(D(2021, 7, 2), Law.FOISA).basis

    assert basis.startswith("FOISA s.10(1)")
    assert "bank holidays in Scotland (s.73)" in basis


def test_steps_are_in_date_order() -> None:
    """Events and skipped days read as one chronological list."""
    events = [ev(SOUGHT, D(2021, 6, 9)), ev(CLARIFIED, D(2021, 6, 14))]
    steps = due_date(D(2021, 6, 7), Law.FOIA, events).steps

    assert sorted(steps, key=lambda s: s.day) == list(steps)
    assert D(2021, 6, 7) == steps[0].day


def test_code_style_receipt_gives_one_more_working_day() -> None:
    """Under the s.45 Code convention a Sunday request is received on Monday: +1 working day."""
    policy = ClockPolicy(receipt_on_non_working_day="next_working_day")
    deadline = due_date(D(2021, 6, 13), Law.FOIA, policy=policy)

    # 9 Jul is a Friday and Mon 12 Jul is a NI holiday, so one working day later is 13 Jul.
    assert D(2021, 7, 13) == deadline.due
    assert D(2021, 6, 14) == deadline.start


def test_code_style_receipt_changes_nothing_for_a_working_day() -> None:
    """A request received on a working day has the same date under either convention."""
    policy = ClockPolicy(receipt_on_non_working_day="next_working_day")

    assert D(2021, 8, 6) == due_date(D(2021, 7, 7), Law.FOIA, policy=policy).due


def test_clarification_stops_the_clock() -> None:
    """While clarification is awaited there is no due date, and the reason says since when."""
    deadline = due_date(D(2021, 6, 7), Law.FOIA, [ev(SOUGHT, D(2021, 6, 9))])

    assert deadline.due is None
    assert "awaiting clarification (sought on 2021-06-09)" == deadline.stopped_reason
    assert deadline.explanation()[-1] == (
        "No due date while awaiting clarification (sought on 2021-06-09)."
    )


def test_clarification_restarts_the_clock() -> None:
    """The clarified request is due 20 working days after the clarification arrived."""
    events = [ev(SOUGHT, D(2021, 6, 9)), ev(CLARIFIED, D(2021, 6, 14))]
    deadline = due_date(D(2021, 6, 7), Law.FOIA, events)

    assert D(2021, 7, 13) == deadline.due
    assert D(2021, 6, 14) == deadline.start
    assert due_date(D(2021, 6, 14), Law.FOIA).due == deadline.due


def test_clarification_restart_drops_an_earlier_extension() -> None:
    """A clarified request is a new request: nothing from before carries over."""
    events = [
        ev(EXTENDED, D(2021, 6, 8)),
        ev(SOUGHT, D(2021, 6, 9)),
        ev(CLARIFIED, D(2021, 6, 14)),
    ]

    assert D(2021, 7, 13) == due_date(D(2021, 6, 7), Law.FOIA, events).due


def test_events_are_applied_in_date_order_whatever_the_input_order() -> None:
    """Events given newest first are sorted by date before they apply."""
    events = [ev(CLARIFIED, D(2021, 6, 14)), ev(SOUGHT, D(2021, 6, 9))]

    assert D(2021, 7, 13) == due_date(D(2021, 6, 7), Law.FOIA, events).due


def test_code_style_clarification_on_a_sunday_counts_from_monday() -> None:
    """Under the Code convention the restart also treats a Sunday as the next working day."""
    policy = ClockPolicy(receipt_on_non_working_day="next_working_day")
    events = [ev(SOUGHT, D(2021, 6, 9)), ev(CLARIFIED, D(2021, 6, 13))]
    deadline = due_date(D(2021, 6, 7), Law.FOIA, events, policy=policy)

    assert D(2021, 7, 13) == deadline.due
    assert D(2021, 6, 14) == deadline.start


def test_subject_access_clarification_pauses_the_month() -> None:
    """The days from asking to receiving, both inclusive, are added to the month date."""
    events = [ev(SOUGHT, D(2024, 1, 15)), ev(CLARIFIED, D(2024, 1, 18))]
    deadline = due_date(D(2024, 1, 10), Law.SAR, events)

    # 10 Feb 2024 (a Saturday) + 4 paused days = Wed 14 Feb 2024.
    assert D(2024, 2, 14) == deadline.due
    assert D(2024, 1, 10) == deadline.start


def test_subject_access_fee_starts_the_month_on_payment() -> None:
    """The relevant time is the later of receipt and the fee: the month runs from payment."""
    events = [ev(NOTICE, D(2024, 1, 12)), ev(PAID, D(2024, 1, 31))]
    deadline = due_date(D(2024, 1, 10), Law.SAR, events)

    assert D(2024, 2, 29) == deadline.due
    assert D(2024, 1, 31) == deadline.start


def test_subject_access_extension_is_three_months_from_the_start() -> None:
    """An extension makes the date three months from the original start."""
    deadline = due_date(D(2024, 1, 31), Law.SAR, [ev(EXTENDED, D(2024, 2, 10))])

    assert D(2024, 4, 30) == deadline.due


def test_fees_notice_pauses_and_payment_resumes_the_foia_clock() -> None:
    """Working days from notice to payment inclusive are disregarded (s.10(2))."""
    events = [ev(NOTICE, D(2021, 6, 14)), ev(PAID, D(2021, 6, 16))]
    deadline = due_date(D(2021, 6, 7), Law.FOIA, events)

    # Without the fee the date is Mon 5 Jul; 14, 15 and 16 Jun are disregarded.
    assert D(2021, 7, 5) == due_date(D(2021, 6, 7), Law.FOIA).due
    assert D(2021, 7, 8) == deadline.due


def test_unpaid_fee_leaves_the_clock_stopped() -> None:
    """Until the fee arrives there is no due date."""
    deadline = due_date(D(2021, 6, 7), Law.FOIA, [ev(NOTICE, D(2021, 6, 14))])

    assert deadline.due is None
    assert "awaiting the fee (fees notice given on 2021-06-14)" == deadline.stopped_reason


@pytest.mark.parametrize(
    ("option", "due"),
    [("disregarded", D(2021, 7, 8)), ("counted", D(2021, 7, 7))],
)
def test_foisa_fees_notice_day_follows_the_policy(option: str, due: date) -> None:
    """Counting the notice day (the SIC example) gives one working day less."""
    policy = ClockPolicy(foisa_fees_notice_day=option)  # type: ignore[arg-type]
    events = [ev(NOTICE, D(2021, 6, 14)), ev(PAID, D(2021, 6, 16))]

    assert due == due_date(D(2021, 6, 7), Law.FOISA, events, policy=policy).due


def test_foisa_counted_option_matches_the_sic_worked_example() -> None:
    """Notice on day 10, then another 10 working days from the day the fee is received."""
    policy = ClockPolicy(foisa_fees_notice_day="counted")
    events = [ev(NOTICE, D(2021, 6, 21)), ev(PAID, D(2021, 6, 23))]
    deadline = due_date(D(2021, 6, 7), Law.FOISA, events, policy=policy)
    calendar = calendar_for(Law.FOISA)

    assert 10 == calendar.working_days_between(D(2021, 6, 7), D(2021, 6, 21))
    assert calendar.add_working_days(D(2021, 6, 23), 10)[0] == deadline.due


def test_public_interest_extension_adds_20_working_days_to_the_due_date() -> None:
    """FOIA s.10(3): the ICO's further 20 working days run on from the current due date."""
    deadline = due_date(D(2021, 6, 13), Law.FOIA, [ev(EXTENDED, D(2021, 7, 1))])

    assert D(2021, 8, 10) == deadline.due
    assert any("s.10(3)" in step.note for step in deadline.steps)


def test_eir_extension_uses_the_days_given() -> None:
    """EIR reg 7: an extension of a given length is applied as given."""
    deadline = due_date(D(2021, 6, 13), Law.EIR, [ev(EXTENDED, D(2021, 7, 1), days=5)])

    # 9 Jul + 5 working days, skipping the NI holiday on 12 Jul.
    assert D(2021, 7, 19) == deadline.due


def test_review_extension_reaches_40_working_days() -> None:
    """A FOIA internal review extended in an exceptional case totals 40 working days."""
    deadline = due_date(D(2021, 1, 4), Law.REVIEW_FOIA, [ev(EXTENDED, D(2021, 1, 20))])

    assert due_date(D(2021, 1, 4), Law.REVIEW_EIR).due == deadline.due


def test_late_extension_is_applied_and_flagged() -> None:
    """An extension notified after the due date still applies, and the step says it was late."""
    deadline = due_date(D(2021, 6, 13), Law.FOIA, [ev(EXTENDED, D(2021, 7, 20))])

    assert D(2021, 8, 10) == deadline.due
    assert any("after the due date" in step.note for step in deadline.steps)


def test_extra_holiday_moves_the_due_date() -> None:
    """A proclaimed holiday the package lacks pushes the date by one working day."""
    extra = ((D(2027, 6, 14), "Proclaimed holiday", frozenset({"NIR"})),)
    policy = ClockPolicy(extra_holidays=extra)

    assert D(2027, 7, 5) == due_date(D(2027, 6, 7), Law.FOIA).due
    assert D(2027, 7, 6) == due_date(D(2027, 6, 7), Law.FOIA, policy=policy).due
    assert D(2027, 7, 5) == due_date(D(2027, 6, 7), Law.FOISA, policy=policy).due


def test_calendar_passed_in_is_used() -> None:
    """An explicit calendar wins over the law's default one."""
    foisa = calendar_for(Law.FOISA)

    assert D(2021, 7, 30) == due_date(D(2021, 7, 2), Law.FOIA, calendar=foisa).due


@pytest.mark.parametrize(
    ("law", "received", "events", "message"),
    [
        (Law.FOIA, D(2021, 6, 7), [ev(PAID, D(2021, 6, 9))], "no earlier fees_notice"),
        (Law.SAR, D(2021, 6, 7), [ev(PAID, D(2021, 6, 9))], "no earlier fees_notice"),
        (Law.FOIA, D(2021, 6, 7), [ev(CLARIFIED, D(2021, 6, 9))], "no earlier clarification"),
        (Law.SAR, D(2021, 6, 7), [ev(CLARIFIED, D(2021, 6, 9))], "no earlier clarification"),
        (Law.FOIA, D(2021, 6, 7), [ev(SOUGHT, D(2021, 6, 6))], "before the date of receipt"),
        (Law.FOISA, D(2021, 6, 7), [ev(EXTENDED, D(2021, 6, 9))], "no extension"),
        (Law.REVIEW_FOISA, D(2021, 6, 7), [ev(EXTENDED, D(2021, 6, 9))], "no extension"),
        (Law.REVIEW_EIR, D(2021, 6, 7), [ev(EXTENDED, D(2021, 6, 9))], "no extension"),
        (Law.REVIEW_FOIA, D(2021, 6, 7), [ev(NOTICE, D(2021, 6, 9))], "does not apply"),
        (
            Law.FOIA,
            D(2021, 6, 7),
            [ev(SOUGHT, D(2021, 6, 8)), ev(EXTENDED, D(2021, 6, 9))],
            "while the clock is stopped",
        ),
        (
            Law.FOIA,
            D(2021, 6, 7),
            [ev(SOUGHT, D(2021, 6, 8)), ev(SOUGHT, D(2021, 6, 9))],
            "while the clock is stopped",
        ),
        (
            Law.FOIA,
            D(2021, 6, 7),
            [ev(NOTICE, D(2021, 6, 8)), ev(NOTICE, D(2021, 6, 9))],
            "while the clock is stopped",
        ),
        (
            Law.SAR,
            D(2021, 6, 7),
            [ev(SOUGHT, D(2021, 6, 8)), ev(EXTENDED, D(2021, 6, 9))],
            "while the clock is stopped",
        ),
        (
            Law.EIR,
            D(2021, 6, 7),
            [ev(EXTENDED, D(2021, 6, 8)), ev(EXTENDED, D(2021, 6, 9))],
            "only one extension",
        ),
        (
            Law.SAR,
            D(2021, 6, 7),
            [ev(EXTENDED, D(2021, 6, 8)), ev(EXTENDED, D(2021, 6, 9))],
            "extended only once",
        ),
        (Law.SAR, D(2021, 6, 7), [ev(EXTENDED, D(2021, 6, 8), days=20)], "not a number of days"),
        (Law.FOIA, D(2021, 6, 7), [ev(EXTENDED, D(2021, 6, 8), days=0)], "at least one"),
    ],
)
def test_impossible_events_raise_a_clock_error(
    law: Law, received: date, events: list[ClockEvent], message: str
) -> None:
    """Each impossible sequence raises ClockError with a sentence saying what is wrong."""
    with pytest.raises(ClockError, match=message):
        due_date(received, law, events)


def test_clock_error_is_a_usage_error() -> None:
    """Callers that handle bad input generally can catch UsageError."""
    assert issubclass(ClockError, UsageError)


def test_foia_allows_repeated_public_interest_extensions() -> None:
    """s.10(3) says only "reasonable": a second extension adds again."""
    events = [ev(EXTENDED, D(2021, 6, 20), days=10), ev(EXTENDED, D(2021, 7, 1), days=10)]

    assert D(2021, 8, 10) == due_date(D(2021, 6, 13), Law.FOIA, events).due


def test_clarification_lapses_after_the_policy_months() -> None:
    """A request with no answer may be closed three months after clarification was sought."""
    assert D(2024, 4, 15) == clarification_lapses_on(D(2024, 1, 15))
    assert D(2022, 2, 28) == clarification_lapses_on(D(2021, 11, 30))
    assert D(2022, 5, 30) == clarification_lapses_on(
        D(2021, 11, 30), ClockPolicy(clarification_closure_months=6)
    )


def test_working_days_taken_counts_after_receipt_up_to_completion() -> None:
    """A reply on the due date took exactly 20 working days."""
    assert 20 == working_days_taken(D(2021, 6, 13), D(2021, 7, 9), Law.FOIA)
    assert 21 == working_days_taken(D(2021, 7, 2), D(2021, 8, 3), Law.FOISA)


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (D(2023, 1, 31), 1, D(2023, 2, 28)),
        (D(2023, 12, 15), 1, D(2024, 1, 15)),
        (D(2024, 11, 30), 3, D(2025, 2, 28)),
        (D(2024, 8, 31), 6, D(2025, 2, 28)),
    ],
)
def test_add_months_clamps_to_the_end_of_the_month(day: date, months: int, expected: date) -> None:
    """A date with no counterpart becomes the last day of the month."""
    assert expected == add_months(day, months)
