"""The case lifecycle: every allowed transition, illegal ones in plain words, and conversations."""

from __future__ import annotations

import pytest

from foi_mailbot.cases.lifecycle import (
    TRANSITIONS,
    Event,
    State,
    allowed,
    allowed_events,
    clock_running,
    explain_illegal,
    is_open,
    transition,
)
from foi_mailbot.errors import IllegalTransition

S, E = State, Event
OPEN = (S.REQUESTED, S.ACKNOWLEDGED, S.AWAITING_CLARIFICATION, S.ON_HOLD_FEES, S.EXTENDED)
RUNNING = (S.REQUESTED, S.ACKNOWLEDGED, S.EXTENDED)

# Written out by hand, not derived from the table, so a change to the table must change this too.
ALLOWED: list[tuple[State, Event, State]] = [
    *[(s, E.CORRESPONDENCE, s) for s in State],
    (S.REQUESTED, E.ACKNOWLEDGED, S.ACKNOWLEDGED),
    (S.ACKNOWLEDGED, E.ACKNOWLEDGED, S.ACKNOWLEDGED),
    *[(s, E.CLARIFICATION_SOUGHT, S.AWAITING_CLARIFICATION) for s in RUNNING],
    *[(s, E.EXTENDED, S.EXTENDED) for s in RUNNING],
    *[(s, E.FEES_NOTICE, S.ON_HOLD_FEES) for s in RUNNING],
    (S.AWAITING_CLARIFICATION, E.CLARIFICATION_SOUGHT, S.AWAITING_CLARIFICATION),
    (S.AWAITING_CLARIFICATION, E.CLARIFICATION_RECEIVED, S.ACKNOWLEDGED),
    (S.AWAITING_CLARIFICATION, E.CLOSED_NO_CLARIFICATION, S.CLOSED),
    (S.ON_HOLD_FEES, E.FEES_NOTICE, S.ON_HOLD_FEES),
    (S.ON_HOLD_FEES, E.FEES_PAID, S.ACKNOWLEDGED),
    *[(s, E.RESPONDED, S.RESPONDED) for s in OPEN],
    *[(s, E.CLOSED, S.CLOSED) for s in OPEN],
    *[(s, E.REVIEW_REQUESTED, s) for s in OPEN],
    *[(s, E.REVIEW_OUTCOME, S.REVIEW_CLOSED) for s in OPEN],
    (S.RESPONDED, E.RESPONDED, S.RESPONDED),
    (S.RESPONDED, E.CLOSED, S.CLOSED),
    (S.RESPONDED, E.REVIEW_REQUESTED, S.UNDER_REVIEW),
    (S.RESPONDED, E.REOPENED, S.ACKNOWLEDGED),
    (S.CLOSED, E.CLOSED, S.CLOSED),
    (S.CLOSED, E.REVIEW_REQUESTED, S.UNDER_REVIEW),
    (S.CLOSED, E.REOPENED, S.ACKNOWLEDGED),
    (S.UNDER_REVIEW, E.REVIEW_REQUESTED, S.UNDER_REVIEW),
    (S.UNDER_REVIEW, E.REVIEW_OUTCOME, S.REVIEW_CLOSED),
    (S.UNDER_REVIEW, E.CLOSED, S.CLOSED),
    (S.REVIEW_CLOSED, E.REVIEW_OUTCOME, S.REVIEW_CLOSED),
    (S.REVIEW_CLOSED, E.CLOSED, S.REVIEW_CLOSED),
    (S.REVIEW_CLOSED, E.REOPENED, S.ACKNOWLEDGED),
]

ILLEGAL: list[tuple[State, Event, str]] = [
    (
        S.AWAITING_CLARIFICATION,
        E.FEES_PAID,
        "a fees payment cannot be recorded on a case that is awaiting clarification",
    ),
    (
        S.ACKNOWLEDGED,
        E.CLARIFICATION_RECEIVED,
        "a clarification cannot be recorded on a case that is acknowledged and in progress",
    ),
    (
        S.AWAITING_CLARIFICATION,
        E.EXTENDED,
        "an extension cannot be recorded on a case that is awaiting clarification; "
        "the clock is stopped until the clarification arrives",
    ),
    (
        S.ON_HOLD_FEES,
        E.EXTENDED,
        "an extension cannot be recorded on a case that is on hold for a fee; "
        "the clock is paused until the fee is paid",
    ),
    (
        S.CLOSED,
        E.RESPONDED,
        "a response cannot be recorded on a case that is closed; reopen it first",
    ),
    (
        S.REVIEW_CLOSED,
        E.REVIEW_REQUESTED,
        "a request for internal review cannot be recorded on a case that has had its internal "
        "review concluded; the applicant's next step is a complaint to the Information "
        "Commissioner",
    ),
    (
        S.EXTENDED,
        E.ACKNOWLEDGED,
        "an acknowledgement cannot be recorded on a case that has been extended",
    ),
    (
        S.ACKNOWLEDGED,
        E.REOPENED,
        "a reopening cannot be recorded on a case that is acknowledged and in progress",
    ),
    (
        S.REQUESTED,
        E.FEES_PAID,
        "a fees payment cannot be recorded on a case that has not been acknowledged yet",
    ),
    (
        S.UNDER_REVIEW,
        E.RESPONDED,
        "a response cannot be recorded on a case that is under internal review",
    ),
    (
        S.ON_HOLD_FEES,
        E.CLARIFICATION_SOUGHT,
        "a request for clarification cannot be recorded on a case that is on hold for a fee",
    ),
    (
        S.AWAITING_CLARIFICATION,
        E.FEES_NOTICE,
        "a fees notice cannot be recorded on a case that is awaiting clarification",
    ),
    (
        S.RESPONDED,
        E.CLOSED_NO_CLARIFICATION,
        "a case can be closed for want of clarification only while it is awaiting "
        "clarification, and this one has been responded to",
    ),
]


@pytest.mark.parametrize(("state", "event", "after"), ALLOWED)
def test_every_allowed_transition_lands_where_an_officer_expects(
    state: State, event: Event, after: State
) -> None:
    """Each allowed (state, event) pair leads to the state written out above."""

    assert after == transition(state, event)


def test_the_table_allows_nothing_beyond_the_written_list() -> None:
    """The table holds exactly the pairs listed in this file, no more."""

    assert {(s, e) for s, e, _ in ALLOWED} == set(TRANSITIONS)


@pytest.mark.parametrize(("state", "event", "message"), ILLEGAL)
def test_an_illegal_transition_is_refused_in_a_plain_sentence(
    state: State, event: Event, message: str
) -> None:
    """An event that does not fit raises IllegalTransition saying what and why."""

    with pytest.raises(IllegalTransition) as caught:
        transition(state, event)

    assert message == str(caught.value)


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("event", list(Event))
def test_every_pair_either_moves_or_explains_itself(state: State, event: Event) -> None:
    """No pair crashes with anything but IllegalTransition, and every refusal has a message."""

    if allowed(state, event):
        assert isinstance(transition(state, event), State)
    else:
        with pytest.raises(IllegalTransition, match=r"^\w.+ cannot|^a case can be closed"):
            transition(state, event)
        assert explain_illegal(state, event)


@pytest.mark.parametrize("state", list(State))
def test_correspondence_never_changes_the_state(state: State) -> None:
    """Plain correspondence is allowed everywhere and leaves the case where it is."""

    assert state == transition(state, Event.CORRESPONDENCE)


def test_allowed_events_lists_what_an_awaiting_clarification_case_accepts() -> None:
    """A case waiting for clarification accepts the reply, a chaser, a closure or an answer."""

    expected = {
        E.CORRESPONDENCE,
        E.CLARIFICATION_SOUGHT,
        E.CLARIFICATION_RECEIVED,
        E.CLOSED_NO_CLARIFICATION,
        E.RESPONDED,
        E.CLOSED,
        E.REVIEW_REQUESTED,
        E.REVIEW_OUTCOME,
    }

    assert expected == allowed_events(S.AWAITING_CLARIFICATION)


@pytest.mark.parametrize(
    ("state", "open_", "running"),
    [
        (S.REQUESTED, True, True),
        (S.ACKNOWLEDGED, True, True),
        (S.AWAITING_CLARIFICATION, True, False),
        (S.ON_HOLD_FEES, True, False),
        (S.EXTENDED, True, True),
        (S.RESPONDED, False, False),
        (S.CLOSED, False, False),
        (S.UNDER_REVIEW, False, False),
        (S.REVIEW_CLOSED, False, False),
    ],
)
def test_open_states_and_running_clocks(state: State, open_: bool, running: bool) -> None:
    """Clarification stops and fees pause the clock; only the request phase is open."""

    assert (open_, running) == (is_open(state), clock_running(state))


def _play(*events: Event, start: State = S.REQUESTED) -> list[State]:
    states = [start]
    for event in events:
        states.append(transition(states[-1], event))
    return states


def test_clarification_sought_then_received_restarts_from_acknowledged() -> None:
    """Request, our question, the applicant's answer: the case is back in progress."""

    states = _play(E.ACKNOWLEDGED, E.CLARIFICATION_SOUGHT, E.CLARIFICATION_RECEIVED)

    assert [S.REQUESTED, S.ACKNOWLEDGED, S.AWAITING_CLARIFICATION, S.ACKNOWLEDGED] == states
    assert [True, True, False, True] == [clock_running(s) for s in states]


def test_a_clarification_never_received_ends_the_case_as_closed() -> None:
    """Asked, chased, never answered: closed for want of clarification."""

    states = _play(
        E.ACKNOWLEDGED, E.CLARIFICATION_SOUGHT, E.CLARIFICATION_SOUGHT, E.CLOSED_NO_CLARIFICATION
    )

    assert S.CLOSED == states[-1]


def test_fees_notice_then_payment_resumes_then_a_second_extension_is_allowed() -> None:
    """Fees pause the clock; after payment the case may be extended twice and answered."""

    states = _play(E.ACKNOWLEDGED, E.FEES_NOTICE, E.FEES_PAID, E.EXTENDED, E.EXTENDED, E.RESPONDED)

    assert [S.ON_HOLD_FEES, S.ACKNOWLEDGED, S.EXTENDED, S.EXTENDED, S.RESPONDED] == states[2:]


def test_the_original_case_goes_under_review_and_closes_with_the_outcome() -> None:
    """Responded, review requested, outcome sent: the original case ends review_closed."""

    states = _play(E.ACKNOWLEDGED, E.RESPONDED, E.REVIEW_REQUESTED, E.REVIEW_OUTCOME)

    assert [S.RESPONDED, S.UNDER_REVIEW, S.REVIEW_CLOSED] == states[2:]


def test_the_review_case_itself_starts_at_requested_and_ends_with_its_outcome() -> None:
    """A review is its own case: acknowledged, then concluded by the review outcome."""

    states = _play(E.ACKNOWLEDGED, E.REVIEW_OUTCOME)

    assert [S.REQUESTED, S.ACKNOWLEDGED, S.REVIEW_CLOSED] == states


def test_a_review_of_a_late_answer_leaves_the_original_owing_a_response() -> None:
    """A review asked for before any answer does not stop the original case's clock."""

    states = _play(E.ACKNOWLEDGED, E.REVIEW_REQUESTED)

    assert S.ACKNOWLEDGED == states[-1]
    assert clock_running(states[-1])


def test_a_decision_notice_reopens_a_concluded_case() -> None:
    """After a review upheld the refusal, the Commissioner's order reopens the case."""

    states = _play(
        E.ACKNOWLEDGED, E.RESPONDED, E.REVIEW_REQUESTED, E.REVIEW_OUTCOME, E.REOPENED, E.RESPONDED
    )

    assert [S.REVIEW_CLOSED, S.ACKNOWLEDGED, S.RESPONDED] == states[4:]
