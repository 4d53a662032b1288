"""What a staff message does to its case: clarify, extend, respond... with reasons (pure).

The case service's staff step calls `infer_staff_action()` for mail classified as STAFF and
matched to a case; `event_for()` gives the lifecycle `Event` an action means in a given state.

A subject tag always wins. Tags are case-insensitive, may sit anywhere in the subject,
and take an optional argument after a space or a colon:

    [clarify]  [fees]  [paid]  [reopen]  [ack]  [holding]  [review-ack]
    [extend]  [extend 2026-01-15]  [extend 15/01/2026]  [extend 20]   (a date, or working days)
    [respond]  [respond: refused]   (provided | partly | refused | not held | ncnd)
    [close]  [close: withdrawn]
    [review-outcome]  [review-outcome: upheld]   (upheld | overturned | partly)

Bracketed text that is none of these ([EXTERNAL], [OFFICIAL]) is ignored. Without a tag the
kind is read from the sender's own words (quoted history is cut off) by the first row of a
fixed order that matches (see `_decide`). Details a tag leaves out, such as the outcome or the
new due date, are still read from the text. Dates are UK style; a stated date before `today`
is never taken as a new due date. What the text is read with lives in `staff_text` (own
words, phrase groups, cited sections), `staff_dates` (dates and lengths), `staff_tags` (subject
tags) and `staff_outcomes` (how a response or review ended).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, Final

from foi_mailbot.cases.lifecycle import Event, State
from foi_mailbot.cases.staff_dates import DATE, as_date, stated_due, stated_extension_days
from foi_mailbot.cases.staff_outcomes import (
    Outcome,
    ReviewOutcome,
    response_outcome,
    review_decision,
)
from foi_mailbot.cases.staff_tags import (
    OUTCOME_ARGS,
    REVIEW_ARGS,
    TAG_DAYS,
    find_tag,
    tag_choice,
)
from foi_mailbot.cases.staff_text import (
    ACK,
    ACK_PROMISE,
    ACK_STRONG,
    ACK_THANKS,
    ADVICE,
    CLARIFY,
    CLOSE,
    CONDITIONAL,
    EXTEND_STRONG,
    EXTEND_WEAK,
    FEES,
    HOLDING,
    IF,
    IF_AFTER,
    IF_IN_SENTENCE,
    MAYBE,
    NEGATED,
    PAID,
    REOPEN,
    RESPOND_STRONG,
    RESPOND_WEAK,
    REVIEW_ASKED,
    REVIEW_CONTEXT,
    REVIEW_TAKEN_ON,
    UNTIL,
    WITHDRAWN,
    cited_sections,
    find_phrase,
    fold,
    own_words,
    readable,
)
from foi_mailbot.parsing.parsed import ParsedMail

# `own_words`, `cited_sections` (from `staff_text`) and the outcome types (from `staff_outcomes`)
# are re-exported from here.
__all__ = [
    "ActionKind", "Outcome", "ReviewOutcome", "StaffAction",
    "cited_sections", "event_for", "infer_staff_action", "own_words",
]


class ActionKind(StrEnum):
    """What a staff message does to its case.

    `holding` is an update or apology that changes nothing; `none` is mail that could not be
    read as any action (on a case, a person is asked to look at it).
    """

    ACKNOWLEDGE = "acknowledge"
    CLARIFY = "clarify"
    EXTEND = "extend"
    FEES = "fees"
    PAID = "paid"
    RESPOND = "respond"
    REVIEW_ACKNOWLEDGE = "review_acknowledge"
    REVIEW_OUTCOME = "review_outcome"
    HOLDING = "holding"
    CLOSE = "close"
    REOPEN = "reopen"
    NONE = "none"


@dataclass(frozen=True)
class StaffAction:
    """The inferred action and why.

    `tag` is the subject tag as written (e.g. "[extend 2026-01-15]"), or None.
    `new_due` and `extension_days` are set for extensions when stated; `sections` are the
    exemptions and refusal grounds cited (FOIA ss.12, 14, 21-44; EIR regs 12 and 13),
    normalised as "section 43(2)" or "regulation 12(5)(e)", in order of first mention.
    """

    kind: ActionKind
    reasons: tuple[str, ...]
    tag: str | None = None
    new_due: date | None = None
    extension_days: int | None = None
    outcome: Outcome | None = None
    sections: tuple[str, ...] = ()
    review_outcome: ReviewOutcome | None = None

    @property
    def outcome_value(self) -> str | None:
        """The outcome as stored on the case: a review's decision or a response's outcome."""
        if self.kind is ActionKind.REVIEW_OUTCOME:
            return self.review_outcome.value if self.review_outcome else None
        return self.outcome.value if self.outcome else None

    def as_json(self) -> dict[str, Any]:
        """The reading as `classify --json` reports it and a correction records it."""
        return {
            "action": self.kind.value,
            "outcome": self.outcome_value,
            "sections": list(self.sections),
            "new_due": self.new_due.isoformat() if self.new_due else None,
            "action_reasons": list(self.reasons),
        }


_EVENTS: Final[Mapping[ActionKind, Event]] = {
    ActionKind.CLARIFY: Event.CLARIFICATION_SOUGHT,
    ActionKind.EXTEND: Event.EXTENDED,
    ActionKind.FEES: Event.FEES_NOTICE,
    ActionKind.PAID: Event.FEES_PAID,
    ActionKind.RESPOND: Event.RESPONDED,
    ActionKind.CLOSE: Event.CLOSED,
    ActionKind.REOPEN: Event.REOPENED,
    ActionKind.REVIEW_OUTCOME: Event.REVIEW_OUTCOME,
    ActionKind.ACKNOWLEDGE: Event.ACKNOWLEDGED,
    ActionKind.REVIEW_ACKNOWLEDGE: Event.ACKNOWLEDGED,
    ActionKind.HOLDING: Event.CORRESPONDENCE,
    ActionKind.NONE: Event.CORRESPONDENCE,
}


def event_for(action: StaffAction, state: State) -> Event:
    """The lifecycle event for `action` on a case in `state`."""
    if action.kind is ActionKind.CLOSE and state is State.AWAITING_CLARIFICATION:
        return Event.CLOSED_NO_CLARIFICATION
    return _EVENTS[action.kind]


# The subject tags (see the module's docstring) and the action each names.
_TAG_KINDS: Final[Mapping[str, ActionKind]] = {
    "clarify": ActionKind.CLARIFY, "clarification": ActionKind.CLARIFY,
    "extend": ActionKind.EXTEND, "extension": ActionKind.EXTEND,
    "fees": ActionKind.FEES, "fee": ActionKind.FEES, "paid": ActionKind.PAID,
    "respond": ActionKind.RESPOND, "response": ActionKind.RESPOND,
    "close": ActionKind.CLOSE, "reopen": ActionKind.REOPEN,
    "review-outcome": ActionKind.REVIEW_OUTCOME,
    "ack": ActionKind.ACKNOWLEDGE, "acknowledge": ActionKind.ACKNOWLEDGE,
    "holding": ActionKind.HOLDING, "review-ack": ActionKind.REVIEW_ACKNOWLEDGE,
}


# --- deciding -------------------------------------------------------------------------------

# Rows tried in order before the extension/response rows; see `_decide`.
_EARLY_ROWS: Final = (
    (ActionKind.REOPEN, REOPEN, (NEGATED, CONDITIONAL)),
    # "We will treat your request as withdrawn" decides, unless a condition goes with it.
    (ActionKind.CLOSE, CLOSE, (NEGATED, IF_IN_SENTENCE, IF_AFTER)),
    (ActionKind.PAID, PAID, (NEGATED, IF, UNTIL)),
    (ActionKind.FEES, FEES, (NEGATED, IF)),
    # "You may wish to narrow your request" is advice that goes with a refusal, not a question.
    (ActionKind.CLARIFY, CLARIFY, (IF, ADVICE)),
)


def _said(phrase: str) -> str:
    return f'"{phrase}" in the new text'


_Decision = tuple[ActionKind, list[str]]


def _decide(text: str, today: date) -> _Decision:
    """The kind of an untagged message; the first row that matches wins.

    The text read is the sender's own words without passages in quotation marks (a request
    recited in full) or standard paragraphs (the right to a review, disclaimers).

    1. "internal review" with an outcome (upheld, overturned, partly upheld): review outcome;
       a review asked for and taken on (logged, will be carried out): review acknowledgement.
    2. reopened; closed or withdrawn; payment received (before the fees row, because a
       receipt names the fees notice); fees notice; a clarification question, however
       worded ("could you confirm which...", "please specify", "do you mean", a full name
       under s.8) (before any response row: a part answer that asks about the rest leaves
       the case waiting).
    3. An extension phrase and a response phrase together: an extension only when a future
       due date is stated (a response often recalls an earlier extension).
    4. extension; response; an acknowledgement ("has been logged", "you should receive a
       response within"); weaker response phrases ("please find attached", "withheld");
       thanks with a promise to respond; "public interest" alone; an apology or update that
       decides nothing: holding.
    5. Otherwise: none.
    """
    for row in (_review_row, _review_ack_row, _early_rows, _extend_or_respond_rows, _late_rows):
        decided = row(text, today)
        if decided:
            return decided
    return ActionKind.NONE, ["no tag and no known phrase in the new text"]


def _review_row(text: str, today: date) -> _Decision | None:
    context = find_phrase(text, REVIEW_CONTEXT)
    review = review_decision(text) if context else None
    if context and review:
        return ActionKind.REVIEW_OUTCOME, [f'"{context}" with "{review[1]}" in the new text']
    return None


def _review_ack_row(text: str, today: date) -> _Decision | None:
    asked = find_phrase(text, REVIEW_ASKED, NEGATED)
    taken_on = find_phrase(text, REVIEW_TAKEN_ON, NEGATED, IF) if asked else None
    if asked and taken_on:
        return ActionKind.REVIEW_ACKNOWLEDGE, [f'"{asked}" with "{taken_on}" in the new text']
    return None


def _early_rows(text: str, today: date) -> _Decision | None:
    for kind, group, guards in _EARLY_ROWS:
        phrase = find_phrase(text, group, *guards)
        if phrase:
            return kind, [_said(phrase)]
    return None


def _extend_or_respond_rows(text: str, today: date) -> _Decision | None:
    extend = find_phrase(text, EXTEND_STRONG, NEGATED, IF)
    respond = find_phrase(text, RESPOND_STRONG, NEGATED, IF, MAYBE)
    if extend and respond:
        due = stated_due(text, today)
        kind = ActionKind.EXTEND if due else ActionKind.RESPOND
        why = "a future due date is stated" if due else "no future due date is stated"
        return kind, [f'both "{extend}" and "{respond}" in the new text; {why}']
    if extend:
        return ActionKind.EXTEND, [_said(extend)]
    return (ActionKind.RESPOND, [_said(respond)]) if respond else None


def _late_rows(text: str, today: date) -> _Decision | None:
    ack = find_phrase(text, ACK_STRONG, NEGATED) or find_phrase(text, ACK, NEGATED)
    if ack:
        return ActionKind.ACKNOWLEDGE, [_said(ack)]
    weak = find_phrase(text, RESPOND_WEAK, NEGATED, IF)
    if weak:
        return ActionKind.RESPOND, [_said(weak)]
    thanks, promise = find_phrase(text, ACK_THANKS), find_phrase(text, ACK_PROMISE, NEGATED, IF)
    if thanks and promise:
        return ActionKind.ACKNOWLEDGE, [f'"{thanks}" with "{promise}" in the new text']
    pit = find_phrase(text, EXTEND_WEAK, NEGATED, IF)
    if pit:
        return ActionKind.EXTEND, [_said(pit)]
    holding = find_phrase(text, HOLDING, NEGATED, IF)
    return (ActionKind.HOLDING, [_said(holding) + "; no decision stated"]) if holding else None


@dataclass(frozen=True)
class _Details:
    new_due: date | None = None
    extension_days: int | None = None
    outcome: Outcome | None = None
    review_outcome: ReviewOutcome | None = None


def _extension(text: str, arg: str, today: date, reasons: list[str]) -> _Details:
    """New due date and length: the tag's argument first, then the text."""
    due: date | None = None
    days: int | None = None
    tag_date = DATE.fullmatch(arg) if arg else None
    tag_days = TAG_DAYS.fullmatch(arg) if arg else None
    if tag_date:
        found = as_date(tag_date, today)
        if found is None or found < today:
            reasons.append(f'date "{arg}" in the tag is not a future date; ignored')
        else:
            due = found
            reasons.append(f"new due date {due.isoformat()} from the tag")
    elif tag_days:
        days = int(tag_days.group("n"))
        reasons.append(f"extension of {days} working days from the tag")
    elif arg:
        reasons.append(f'tag argument "{arg}" not understood; ignored')
    if due is None:
        stated = stated_due(text, today)
        if stated:
            due = stated[0]
            reasons.append(f'new due date {due.isoformat()} from "{stated[1]}"')
    if days is None:
        length = stated_extension_days(text)
        if length:
            days = length[0]
            reasons.append(f'extension of {days} working days from "{length[1]}"')
    return _Details(new_due=due, extension_days=days)


def _details(kind: ActionKind, text: str, arg: str, today: date, reasons: list[str]) -> _Details:
    """The details that go with `kind`, from the tag argument or else the text."""
    if kind is ActionKind.EXTEND:
        return _extension(text, arg, today, reasons)
    if kind is ActionKind.RESPOND:
        outcome = tag_choice(arg, OUTCOME_ARGS, reasons)
        found = None if outcome else response_outcome(text)
        if found:
            outcome = found[0]
            reasons.append(f'outcome {outcome} from "{found[1]}"')
        return _Details(outcome=outcome)
    if kind is ActionKind.REVIEW_OUTCOME:
        review = tag_choice(arg, REVIEW_ARGS, reasons)
        found_review = None if review else review_decision(text)
        if found_review:
            review = found_review[0]
            reasons.append(f'review outcome {review} from "{found_review[1]}"')
        return _Details(review_outcome=review)
    if kind is ActionKind.CLOSE:
        withdrawn = arg == "withdrawn" or find_phrase(
            text, WITHDRAWN, NEGATED, IF_IN_SENTENCE, IF_AFTER)
        if withdrawn:
            reasons.append("outcome withdrawn")
        return _Details(outcome=Outcome.WITHDRAWN if withdrawn else None)
    if arg:
        reasons.append(f'tag argument "{arg}" ignored')
    return _Details()


def infer_staff_action(mail: ParsedMail, *, today: date) -> StaffAction:
    """What `mail`, sent by staff, does to its case; `today` bounds stated due dates."""
    text = readable(fold(own_words(mail)))
    tag = find_tag(mail.subject, _TAG_KINDS)
    if tag is not None:
        kind, reasons = _TAG_KINDS[tag.name], [f'subject tag "{tag.text}"']
    else:
        kind, reasons = _decide(text, today)
    details = _details(kind, text, tag.arg if tag else "", today, reasons)
    return StaffAction(
        kind=kind,
        reasons=tuple(reasons),
        tag=tag.text if tag else None,
        new_due=details.new_due,
        extension_days=details.extension_days,
        outcome=details.outcome,
        sections=cited_sections(text),
        review_outcome=details.review_outcome,
    )
