"""Properties of the statutory clock that hold for every receipt date from 2019 to 2027."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from foi_mailbot.deadlines.laws import ClockEvent, EventKind, Law
from foi_mailbot.deadlines.statutory import ClockPolicy, add_months, calendar_for, due_date

FAST = settings(max_examples=200, deadline=None)
WORKING_DAY_LAWS = [Law.FOIA, Law.EIR, Law.FOISA, Law.REVIEW_FOIA, Law.REVIEW_FOISA]

dates = st.dates(min_value=date(2019, 1, 1), max_value=date(2027, 12, 31))
laws = st.sampled_from(WORKING_DAY_LAWS)
gaps = st.integers(min_value=0, max_value=60)


@FAST
@given(received=dates, law=laws)
def test_due_date_is_a_working_day(received: date, law: Law) -> None:
    """Whatever the receipt date, the due date is a working day of the law's calendar."""
    deadline = due_date(received, law)

    assert deadline.due is not None
    assert calendar_for(law).is_working_day(deadline.due)


@FAST
@given(received=dates, law=laws)
def test_exactly_20_working_days_run_after_receipt(received: date, law: Law) -> None:
    """Twenty working days lie strictly after receipt up to and including the due date."""
    deadline = due_date(received, law)

    assert deadline.due is not None
    assert 20 == calendar_for(law).working_days_between(received, deadline.due)


@FAST
@given(received=dates, law=laws, ask_after=gaps, answer_after=gaps)
def test_clarification_restart_equals_a_fresh_request(
    received: date, law: Law, ask_after: int, answer_after: int
) -> None:
    """A clarified request is due when a new request received that day would be."""
    sought = received + timedelta(days=ask_after)
    answered = sought + timedelta(days=answer_after)
    events = [
        ClockEvent(EventKind.CLARIFICATION_SOUGHT, sought),
        ClockEvent(EventKind.CLARIFICATION_RECEIVED, answered),
    ]

    assert due_date(answered, law).due == due_date(received, law, events).due


@FAST
@given(
    received=dates,
    law=st.sampled_from([Law.FOIA, Law.EIR, Law.FOISA]),
    notice_after=gaps,
    paid_after=gaps,
)
def test_fees_pause_moves_the_date_by_the_working_days_paused(
    received: date, law: Law, notice_after: int, paid_after: int
) -> None:
    """A pause covering N working days (notice to payment inclusive) adds N working days."""
    notice = received + timedelta(days=notice_after)
    paid = notice + timedelta(days=paid_after)
    events = [ClockEvent(EventKind.FEES_NOTICE, notice), ClockEvent(EventKind.FEES_PAID, paid)]
    calendar = calendar_for(law)
    paused = calendar.working_days_between(notice - timedelta(days=1), paid)
    plain = due_date(received, law).due
    assert plain is not None

    assert calendar.add_working_days(plain, paused)[0] == due_date(received, law, events).due


@FAST
@given(received=dates)
def test_code_style_receipt_is_never_earlier_and_at_most_one_working_day_later(
    received: date,
) -> None:
    """The s.45 Code convention adds one working day exactly when receipt is a non-working day."""
    code = ClockPolicy(receipt_on_non_working_day="next_working_day")
    statute = due_date(received, Law.FOIA).due
    conservative = due_date(received, Law.FOIA, policy=code).due
    assert statute is not None
    assert conservative is not None
    shift = 0 if calendar_for(Law.FOIA).is_working_day(received) else 1

    assert shift == calendar_for(Law.FOIA).working_days_between(statute, conservative)


@FAST
@given(received=dates)
def test_subject_access_due_is_the_first_working_day_from_the_month_date(received: date) -> None:
    """The SAR date is a working day on or after the corresponding date, with none between."""
    deadline = due_date(received, Law.SAR)
    calendar = calendar_for(Law.SAR)
    target = add_months(received, 1)

    assert deadline.due is not None
    assert calendar.is_working_day(deadline.due)
    assert target <= deadline.due
    assert 0 == calendar.working_days_between(target - timedelta(days=1), deadline.due) - 1
