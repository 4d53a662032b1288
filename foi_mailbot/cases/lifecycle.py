"""Case lifecycle: the states a case passes through and the events that move it (pure).

`cases.service` turns a classified message (or an inferred staff action) into an `Event`
and calls `transition()`; an `IllegalTransition` there means the message does not fit the
case, so the message is kept and flagged for a person rather than forced onto the case.

The table knows nothing of laws or dates. It records what an FOI officer does:

* A request is acknowledged, may wait for clarification (FOIA s.1(3), EIR reg 9) or a
  fee (FOIA s.9), may be extended (FOIA s.10(3), EIR reg 7), and is answered or closed.
* Clarification restarts the clock, so a clarified request is back to `acknowledged`.
* A fee payment resumes the clock; the state returns to `acknowledged` because the
  table has no memory of an earlier extension (the deadline engine keeps that as a
  `ClockEvent`, so no time is lost).
* An internal review is a separate case that starts at `requested`. The ORIGINAL case
  goes to `under_review` and, when the outcome is sent, to `review_closed`. The review
  case itself ends with `review_outcome` too, straight from any open state.
* A review asked for while the original is still open (typically about a late answer)
  leaves the original open: it still owes a response.
* A second extension is allowed here; whether it is reasonable is for the deadline
  engine and a person to judge.
* Repeats that change nothing (a second acknowledgement, a clarification chaser, a
  revised fees notice, a supplementary response, a duplicate close) are allowed, so a
  harmless staff message never needs a person's attention.
* `correspondence` never changes the state.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from foi_mailbot.errors import IllegalTransition


class State(StrEnum):
    """Where a case stands."""

    REQUESTED = "requested"
    ACKNOWLEDGED = "acknowledged"
    AWAITING_CLARIFICATION = "awaiting_clarification"
    ON_HOLD_FEES = "on_hold_fees"
    EXTENDED = "extended"
    RESPONDED = "responded"
    CLOSED = "closed"
    UNDER_REVIEW = "under_review"
    REVIEW_CLOSED = "review_closed"


class Event(StrEnum):
    """Something that happened to a case."""

    ACKNOWLEDGED = "acknowledged"
    CLARIFICATION_SOUGHT = "clarification_sought"
    CLARIFICATION_RECEIVED = "clarification_received"
    FEES_NOTICE = "fees_notice"
    FEES_PAID = "fees_paid"
    EXTENDED = "extended"
    RESPONDED = "responded"
    CLOSED = "closed"
    REOPENED = "reopened"
    REVIEW_REQUESTED = "review_requested"
    REVIEW_OUTCOME = "review_outcome"
    CLOSED_NO_CLARIFICATION = "closed_no_clarification"
    CORRESPONDENCE = "correspondence"


_S = State
_E = Event

# The request is still being handled: the authority owes the applicant an answer.
OPEN_STATES: Final = frozenset(
    {_S.REQUESTED, _S.ACKNOWLEDGED, _S.AWAITING_CLARIFICATION, _S.ON_HOLD_FEES, _S.EXTENDED}
)
# The statutory clock counts down only here; clarification stops it, a fees notice pauses it.
CLOCK_RUNNING_STATES: Final = frozenset({_S.REQUESTED, _S.ACKNOWLEDGED, _S.EXTENDED})
_RUNNING: Final = tuple(sorted(CLOCK_RUNNING_STATES))
_OPEN: Final = tuple(sorted(OPEN_STATES))


def _table() -> dict[tuple[State, Event], State]:
    """Build the table row by row; each block is one thing an officer does."""
    t: dict[tuple[State, Event], State] = {}
    for s in State:
        t[s, _E.CORRESPONDENCE] = s
    t[_S.REQUESTED, _E.ACKNOWLEDGED] = _S.ACKNOWLEDGED
    t[_S.ACKNOWLEDGED, _E.ACKNOWLEDGED] = _S.ACKNOWLEDGED
    for s in _RUNNING:
        t[s, _E.CLARIFICATION_SOUGHT] = _S.AWAITING_CLARIFICATION
        t[s, _E.EXTENDED] = _S.EXTENDED
        # s.9 disbursements may be known only once the extra time has shown what is disclosed.
        t[s, _E.FEES_NOTICE] = _S.ON_HOLD_FEES
    t[_S.AWAITING_CLARIFICATION, _E.CLARIFICATION_SOUGHT] = _S.AWAITING_CLARIFICATION
    t[_S.AWAITING_CLARIFICATION, _E.CLARIFICATION_RECEIVED] = _S.ACKNOWLEDGED
    t[_S.AWAITING_CLARIFICATION, _E.CLOSED_NO_CLARIFICATION] = _S.CLOSED
    t[_S.ON_HOLD_FEES, _E.FEES_NOTICE] = _S.ON_HOLD_FEES
    t[_S.ON_HOLD_FEES, _E.FEES_PAID] = _S.ACKNOWLEDGED
    for s in _OPEN:
        t[s, _E.RESPONDED] = _S.RESPONDED
        # Withdrawn, duplicate, or a fee unpaid after three months (s.9(2)).
        t[s, _E.CLOSED] = _S.CLOSED
        t[s, _E.REVIEW_REQUESTED] = s
        t[s, _E.REVIEW_OUTCOME] = _S.REVIEW_CLOSED
    t[_S.RESPONDED, _E.RESPONDED] = _S.RESPONDED
    t[_S.RESPONDED, _E.CLOSED] = _S.CLOSED
    t[_S.CLOSED, _E.CLOSED] = _S.CLOSED
    for s in (_S.RESPONDED, _S.CLOSED):
        t[s, _E.REVIEW_REQUESTED] = _S.UNDER_REVIEW
    # An overturned review or an ICO decision notice can call for a fresh response.
    for s in (_S.RESPONDED, _S.CLOSED, _S.REVIEW_CLOSED):
        t[s, _E.REOPENED] = _S.ACKNOWLEDGED
    t[_S.UNDER_REVIEW, _E.REVIEW_REQUESTED] = _S.UNDER_REVIEW
    t[_S.UNDER_REVIEW, _E.REVIEW_OUTCOME] = _S.REVIEW_CLOSED
    # The applicant withdraws the review: nothing is left to do on the original.
    t[_S.UNDER_REVIEW, _E.CLOSED] = _S.CLOSED
    t[_S.REVIEW_CLOSED, _E.REVIEW_OUTCOME] = _S.REVIEW_CLOSED
    t[_S.REVIEW_CLOSED, _E.CLOSED] = _S.REVIEW_CLOSED
    return t


TRANSITIONS: Final[Mapping[tuple[State, Event], State]] = MappingProxyType(_table())

_EVENT_WORDS: Final[Mapping[Event, str]] = {
    _E.ACKNOWLEDGED: "an acknowledgement",
    _E.CLARIFICATION_SOUGHT: "a request for clarification",
    _E.CLARIFICATION_RECEIVED: "a clarification",
    _E.FEES_NOTICE: "a fees notice",
    _E.FEES_PAID: "a fees payment",
    _E.EXTENDED: "an extension",
    _E.RESPONDED: "a response",
    _E.CLOSED: "a closure",
    _E.REOPENED: "a reopening",
    _E.REVIEW_REQUESTED: "a request for internal review",
    _E.REVIEW_OUTCOME: "an internal review outcome",
    _E.CLOSED_NO_CLARIFICATION: "a closure for want of clarification",
    _E.CORRESPONDENCE: "correspondence",
}

_STATE_WORDS: Final[Mapping[State, str]] = {
    _S.REQUESTED: "has not been acknowledged yet",
    _S.ACKNOWLEDGED: "is acknowledged and in progress",
    _S.AWAITING_CLARIFICATION: "is awaiting clarification",
    _S.ON_HOLD_FEES: "is on hold for a fee",
    _S.EXTENDED: "has been extended",
    _S.RESPONDED: "has been responded to",
    _S.CLOSED: "is closed",
    _S.UNDER_REVIEW: "is under internal review",
    _S.REVIEW_CLOSED: "has had its internal review concluded",
}

# What the officer should do instead, where there is one obvious answer.
_HINTS: Final[Mapping[tuple[State, Event], str]] = {
    (_S.CLOSED, _E.RESPONDED): "reopen it first",
    (_S.REVIEW_CLOSED, _E.RESPONDED): "reopen it first",
    (_S.REVIEW_CLOSED, _E.REVIEW_REQUESTED): (
        "the applicant's next step is a complaint to the Information Commissioner"
    ),
    (_S.AWAITING_CLARIFICATION, _E.EXTENDED): (
        "the clock is stopped until the clarification arrives"
    ),
    (_S.ON_HOLD_FEES, _E.EXTENDED): "the clock is paused until the fee is paid",
}


def allowed(state: State, event: Event) -> bool:
    """True when `event` may happen to a case in `state`."""
    return (state, event) in TRANSITIONS


def allowed_events(state: State) -> frozenset[Event]:
    """Every event a case in `state` accepts."""
    return frozenset(e for (s, e) in TRANSITIONS if s is state)


def explain_illegal(state: State, event: Event) -> str:
    """The plain sentence given when `event` does not fit `state`."""
    sentence = f"{_EVENT_WORDS[event]} cannot be recorded on a case that {_STATE_WORDS[state]}"
    if event is _E.CLOSED_NO_CLARIFICATION:
        sentence = (
            "a case can be closed for want of clarification only while it is awaiting "
            f"clarification, and this one {_STATE_WORDS[state]}"
        )
    hint = _HINTS.get((state, event))
    return f"{sentence}; {hint}" if hint else sentence


def transition(state: State, event: Event) -> State:
    """The state after `event`; raises IllegalTransition when the event does not fit."""
    try:
        return TRANSITIONS[state, event]
    except KeyError:
        msg = explain_illegal(state, event)
        raise IllegalTransition(msg) from None


def is_open(state: State) -> bool:
    """True while the authority still owes an answer to the request itself."""
    return state in OPEN_STATES


def clock_running(state: State) -> bool:
    """True while the statutory clock counts down (not stopped or paused)."""
    return state in CLOCK_RUNNING_STATES
