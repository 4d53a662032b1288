"""A person corrects what a staff message was read as doing (`cases correct`).

The correction is stored as labelled data (`corrections.record`) whatever happens next. When
the earlier reading changed nothing (an acknowledgement, a holding reply, mail that could not
be read, or a reading only proposed or not applied), the corrected action is applied now, its
details (a new due date, the sections cited) read from the message with the person's action as
its tag. When only the outcome was wrong, the case's outcome is put right. When the earlier
reading already moved the case to another state, the correction is recorded on the timeline
and a person puts the case right by hand: undoing a lifecycle step is not guessed at.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Final

from sqlalchemy.orm import Session

from foi_mailbot.cases.register import Calendars, add_event
from foi_mailbot.cases.staff import apply_action, describe
from foi_mailbot.cases.staff_actions import ActionKind, StaffAction, infer_staff_action
from foi_mailbot.cases.staff_outcomes import Outcome, ReviewOutcome
from foi_mailbot.corrections import STAFF_ACTION, record
from foi_mailbot.parsing.parsed import ParsedMail
from foi_mailbot.storage.models import Case, InboundMessage

_CHANGES_NOTHING: Final = frozenset({"acknowledge", "review_acknowledge", "holding", "none"})
_WITH_OUTCOME: Final = frozenset({"respond", "review_outcome", "close"})
# The subject tag that makes the message's own words read as the person's action.
_TAGS: Final = {
    "acknowledge": "ack", "review_acknowledge": "review-ack", "review_outcome": "review-outcome",
}
_TAG_OUTCOMES: Final = {
    "information_provided": "provided", "partly_provided": "partly", "not_held": "not held",
    "neither_confirm_nor_deny": "ncnd",
}


class BadCorrection(ValueError):
    """The correction names an action or outcome that does not exist or does not fit."""


@dataclass(frozen=True)
class Corrected:
    """What the correction did, in words."""

    effect: str
    reference: str


def check(action: str, outcome: str | None) -> None:
    """Raise BadCorrection unless `action` and `outcome` are known values that fit together."""
    if action not in {k.value for k in ActionKind}:
        raise BadCorrection(f"'{action}' is not an action; use one of "
                            + ", ".join(k.value for k in ActionKind))
    if outcome is None:
        return
    allowed = ({o.value for o in ReviewOutcome} if action == "review_outcome"
               else {o.value for o in Outcome} if action in _WITH_OUTCOME else set())
    if outcome not in allowed:
        raise BadCorrection(f"'{outcome}' is not an outcome of '{action}'"
                            + (f"; use one of {', '.join(sorted(allowed))}" if allowed else ""))


def corrected_action(mail: ParsedMail | None, action: str, outcome: str | None,
                     on: date, by: str) -> StaffAction:
    """The person's action, with the details the message states (dates, sections)."""
    said = f"corrected by {by}: {action}" + (f", outcome {outcome}" if outcome else "")
    if mail is not None and action != "none":
        tag = _TAGS.get(action, action)
        arg = _TAG_OUTCOMES.get(outcome or "", outcome or "")
        tagged = replace(mail, subject=f"[{tag}{': ' + arg if arg else ''}] {mail.subject}")
        read = infer_staff_action(tagged, today=on)
        return replace(read, reasons=(said, *read.reasons[1:]))
    kind = ActionKind(action)
    return StaffAction(
        kind=kind, reasons=(said,),
        outcome=Outcome(outcome) if outcome and kind is not ActionKind.REVIEW_OUTCOME else None,
        review_outcome=ReviewOutcome(outcome) if outcome and kind is ActionKind.REVIEW_OUTCOME
        else None,
    )


def correct_staff_action(
    session: Session,
    calendars: Calendars,
    row: InboundMessage,
    mail: ParsedMail | None,
    *,
    action: str,
    outcome: str | None,
    by: str,
    via: str,
    now: datetime,
    on: date,
) -> Corrected:
    """Record a person's correction of a staff message's reading and apply what can be."""
    check(action, outcome)
    case = session.get(Case, row.case_id) if row.case_id is not None else None
    if row.kind != "staff" or case is None:
        raise BadCorrection(f"message {row.id} is not staff mail on a case")
    before = dict(row.staff_reading or {})
    record(session, row, kind=STAFF_ACTION, said={"action": action, "outcome": outcome},
           by=by, via=via, now=now)
    if row.needs_person and row.resolved_at is None:
        row.resolved_at = now
    was, applied = before.get("action"), bool(before.get("applied"))
    new = corrected_action(mail, action, outcome, on, by)
    if was == action and applied:
        if action in _WITH_OUTCOME and outcome is not None:
            case.outcome = outcome
        _note(session, case, row, now, on, f"{by} corrected the reading to {describe(new)}")
        return Corrected(f"{case.reference}: outcome now {outcome}", case.reference)
    if applied and was not in _CHANGES_NOTHING:
        _note(session, case, row, now, on,
              f"{by} says this was {describe(new)}, not {was}; the case was left as it is")
        return Corrected(f"{case.reference}: correction recorded; the earlier reading ({was}) "
                         f"already moved the case to {case.status}: put it right by hand",
                         case.reference)
    result = apply_action(session, calendars, case, row, new, now, on=on)
    return Corrected(result.effect, case.reference)


def _note(session: Session, case: Case, row: InboundMessage, now: datetime, on: date,
          reason: str) -> None:
    add_event(session, case, kind="staff_corrected", on=on, now=now, message_pk=row.id,
              reasons=[reason])
