"""How a staff letter says a request or review ended, read from its own words (pure).

`response_outcome` gives the outcome of a response (information provided, partly provided,
refused, not held, neither confirm nor deny), `review_decision` the decision of an internal
review (upheld, partly upheld, overturned), each with the phrase that shows it; None when the
text does not say (a letter only attached).
"""

from __future__ import annotations

from enum import StrEnum

from foi_mailbot.cases.staff_text import (
    CONDITIONAL,
    IF,
    MAYBE,
    NCND,
    NEGATED,
    NOT_HELD,
    PARTIAL,
    PROVIDED,
    REVIEW_OVERTURNED,
    REVIEW_PARTLY,
    REVIEW_UPHELD,
    WITHHELD_ANY,
    find_phrase,
)


class Outcome(StrEnum):
    """How a request was answered, or why it ended without an answer."""

    INFORMATION_PROVIDED = "information_provided"
    PARTLY_PROVIDED = "partly_provided"
    REFUSED = "refused"
    NOT_HELD = "not_held"
    NEITHER_CONFIRM_NOR_DENY = "neither_confirm_nor_deny"
    WITHDRAWN = "withdrawn"


class ReviewOutcome(StrEnum):
    """What an internal review decided about the original response."""

    UPHELD = "upheld"
    OVERTURNED = "overturned"
    PARTLY = "partly"



def response_outcome(text: str) -> tuple[Outcome, str] | None:
    """How a response answered the request, and the phrase that shows it."""
    provided = find_phrase(text, PROVIDED, NEGATED)
    withheld = find_phrase(text, WITHHELD_ANY, NEGATED, IF, MAYBE)
    not_held = find_phrase(text, NOT_HELD, IF)
    ncnd = find_phrase(text, NCND, IF)
    partial = find_phrase(text, PARTIAL)
    if ncnd and not provided:
        return Outcome.NEITHER_CONFIRM_NOR_DENY, ncnd
    if partial:
        return Outcome.PARTLY_PROVIDED, partial
    if provided and (withheld or not_held):
        return Outcome.PARTLY_PROVIDED, f"{provided}\" with \"{withheld or not_held}"
    if withheld:
        return Outcome.REFUSED, withheld
    if not_held:
        return Outcome.NOT_HELD, not_held
    # "Please find attached" alone says a letter is attached, not what it decided.
    return (Outcome.INFORMATION_PROVIDED, provided) if provided else None


def review_decision(text: str) -> tuple[ReviewOutcome, str] | None:
    """What an internal review decided; 'partly upheld' is read before 'upheld'."""
    for outcome, group in (
        (ReviewOutcome.PARTLY, REVIEW_PARTLY),
        (ReviewOutcome.OVERTURNED, REVIEW_OVERTURNED),
        (ReviewOutcome.UPHELD, REVIEW_UPHELD),
    ):
        phrase = find_phrase(text, group, NEGATED, CONDITIONAL)
        if phrase:
            return outcome, phrase
    return None
