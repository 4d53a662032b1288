"""What a staff message does to its case: the inferred action becomes a lifecycle event and,
where the law says so, a clock event; the deadline is then recomputed from the timeline.

Staff mail that is not a reply in a case's thread still moves the case when its subject or
first lines quote the reference (`staff_match`). What was read is kept on the message
(`staff_reading`) and shown in the timeline; mail on a case that cannot be read as any action
is handed to a person with the reason. `may_apply` is the one place that decides whether an
action is applied at once or only proposed for a person to confirm.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from foi_mailbot.cases.lifecycle import Event, State
from foi_mailbot.cases.matching import Match, staff_quoted_case
from foi_mailbot.cases.register import Calendars, add_event, move, refresh_deadline
from foi_mailbot.cases.staff_actions import (
    ActionKind,
    StaffAction,
    event_for,
    infer_staff_action,
)
from foi_mailbot.classify import STAFF_UNVOUCHED
from foi_mailbot.classify.base import FoundRef
from foi_mailbot.clock import local_date
from foi_mailbot.deadlines.laws import EventKind, Law
from foi_mailbot.errors import IllegalTransition
from foi_mailbot.parsing.parsed import ParsedMail
from foi_mailbot.settings import OrganisationSettings
from foi_mailbot.storage.models import Case, InboundMessage

# Staff actions that move the statutory clock, and the clock event each records.
_CLOCK: dict[ActionKind, EventKind] = {
    ActionKind.CLARIFY: EventKind.CLARIFICATION_SOUGHT,
    ActionKind.EXTEND: EventKind.EXTENSION,
    ActionKind.FEES: EventKind.FEES_NOTICE,
    ActionKind.PAID: EventKind.FEES_PAID,
}
_NO_CHANGE = frozenset({
    ActionKind.ACKNOWLEDGE, ActionKind.REVIEW_ACKNOWLEDGE, ActionKind.HOLDING, ActionKind.NONE,
})


@dataclass
class StaffResult:
    """What the staff message did, and anything a person must check."""

    effect: str
    attention: list[str] = field(default_factory=list)


def staff_match(
    session: Session,
    mail: ParsedMail,
    match: Match,
    find_references: Callable[[str], list[FoundRef]],
) -> Match:
    """The case a staff message is about: its thread's, else one its subject or first lines
    name by reference (a fresh email, or a copy in Sent without In-Reply-To)."""
    if match.case is not None:
        return match
    quoted = staff_quoted_case(session, mail, find_references)
    if quoted is None:
        return match
    return Match(quoted.case, quoted.how, tuple(dict.fromkeys((*match.flags, *quoted.flags))))


def is_internal(mail: ParsedMail, organisation: OrganisationSettings) -> bool:
    """True when every recipient is one of us: a note between colleagues (or a forward to one),
    not a letter to the requester. Without a subject tag such a note moves no case: "could you
    confirm which figures you have?" to a colleague must not stop the requester's clock."""
    recipients = [a.email.lower() for a in (*mail.to, *mail.cc)]
    if not recipients:
        return False
    addresses = {a.lower() for a in organisation.staff_addresses}
    addresses |= organisation.all_mailbox_addresses()
    domains = [d.lower().strip(".") for d in organisation.staff_domains]

    def ours(address: str) -> bool:
        domain = address.rpartition("@")[2]
        return address in addresses or any(
            domain == d or domain.endswith(f".{d}") for d in domains)

    return all(ours(a) for a in recipients)


def may_apply(flags: Sequence[str]) -> bool:
    """Whether a staff message's action is applied now (True) or only proposed for a person to
    confirm (False), from its classification's flags. Every reading that decides this goes
    through here: mail in the Sent folder acts, and so does inbox mail our receiving server
    vouched for (`cases.senders`); any other staff mail was marked unvouched when it was
    classified."""
    return STAFF_UNVOUCHED not in flags


def describe(action: StaffAction) -> str:
    """The reading in a few words: 'respond, outcome refused, citing section 40(2)'."""
    words = action.kind.value
    if action.outcome_value:
        words += f", outcome {action.outcome_value}"
    if action.sections and action.kind in (ActionKind.RESPOND, ActionKind.REVIEW_OUTCOME):
        words += ", citing " + ", ".join(action.sections)
    if action.new_due:
        words += f", new due date {action.new_due.isoformat()}"
    return words


def apply_staff_action(
    session: Session,
    calendars: Calendars,
    case: Case,
    row: InboundMessage,
    mail: ParsedMail,
    now: datetime,
    *,
    zone: ZoneInfo,
    flags: Sequence[str],
    internal: bool = False,
) -> StaffResult:
    """Infer the staff action and apply it to the case, or flag it when it does not fit.

    `flags`: the message's classification flags (`may_apply`). `internal` mail (see
    `is_internal`) is only recorded on the timeline unless its subject carries a tag: a tag is
    an instruction, wherever it is sent.
    """
    on = local_date(row.arrived_at, zone)
    action = infer_staff_action(mail, today=on)
    if internal and action.tag is None:
        row.staff_reading = {**action.as_json(), "applied": False, "internal": True}
        add_event(session, case, kind="staff_internal", on=on, now=now, message_pk=row.id,
                  reasons=["a note between colleagues (every recipient is one of us); "
                           "it moves no case without a subject tag"])
        return StaffResult(f"internal staff note on {case.reference}; no change")
    applied = may_apply(flags)
    row.staff_reading = {**action.as_json(), "applied": applied}
    if not applied:
        add_event(session, case, kind="staff_proposed", on=on, now=now, message_pk=row.id,
                  reasons=[f"read as {describe(action)}", *action.reasons])
        return StaffResult(f"staff {describe(action)} proposed on {case.reference}",
                           [f"{case.reference}: confirm the proposed {describe(action)}"])
    return apply_action(session, calendars, case, row, action, now, on=on)


def apply_action(
    session: Session,
    calendars: Calendars,
    case: Case,
    row: InboundMessage,
    action: StaffAction,
    now: datetime,
    *,
    on: date,
) -> StaffResult:
    """Apply a staff action read from `row` (or given by a person) to the case."""
    reasons = [f"read as {describe(action)}", *action.reasons]
    if action.kind in _NO_CHANGE:
        return _record_only(session, case, row, action, reasons, on, now)
    clock = _CLOCK.get(action.kind)
    event = event_for(action, State(case.status))
    days = _extension_days(case, action, calendars)
    try:
        move(session, case, event, now, row, reasons, clock_event=clock, on=on, days=days)
    except IllegalTransition as exc:
        add_event(session, case, kind="staff_unapplied", on=on, now=now, message_pk=row.id,
                  reasons=[*reasons, str(exc)])
        if row.staff_reading is not None:
            row.staff_reading = {**row.staff_reading, "applied": False}
        return StaffResult(f"staff {action.kind.value} not applied to {case.reference}",
                           [f"{case.reference}: {exc}"])
    if action.kind in (ActionKind.RESPOND, ActionKind.REVIEW_OUTCOME):
        _record_response(session, case, action, on, calendars, now, row)
    elif clock is not None:
        refresh_deadline(session, case, calendars, now=now, cause=f"staff message {row.id}")
    if action.kind is ActionKind.REOPEN:
        case.completed_on, case.on_time, case.outcome = None, None, None
    return StaffResult(f"{case.reference}: {describe(action)} ({'; '.join(action.reasons)}), "
                       f"now {case.status}, due {case.due_on}")


def _record_only(
    session: Session,
    case: Case,
    row: InboundMessage,
    action: StaffAction,
    reasons: list[str],
    on: date,
    now: datetime,
) -> StaffResult:
    """A reading that changes nothing; one that could not be read at all goes to a person."""
    add_event(session, case, kind=f"staff_{action.kind.value}", on=on, now=now,
              message_pk=row.id, reasons=reasons)
    if action.kind is ActionKind.NONE:
        return StaffResult(
            f"staff mail on {case.reference} not understood; no change",
            [f"staff mail on {case.reference} could not be read as any action "
             f"({'; '.join(action.reasons)}): tag it, e.g. [extend], or correct it with "
             f"`foi-mailbot cases correct {row.id} --action ...`"],
        )
    return StaffResult(f"staff {action.kind.value} recorded on {case.reference}; no change")


def _extension_days(case: Case, action: StaffAction, calendars: Calendars) -> int | None:
    if action.kind is not ActionKind.EXTEND:
        return None
    if action.new_due is not None and case.due_on is not None:
        counted = calendars.for_law(Law(case.law)).working_days_between(case.due_on, action.new_due)
        if counted > 0:
            return counted
    return action.extension_days


def _record_response(
    session: Session,
    case: Case,
    action: StaffAction,
    on: date,
    calendars: Calendars,
    now: datetime,
    row: InboundMessage,
) -> None:
    completed = on
    case.completed_on = completed
    case.on_time = case.due_on is None or completed <= case.due_on
    case.working_days_taken = calendars.for_law(Law(case.law)).working_days_between(
        case.received_on, completed
    )
    case.sections = list(action.sections)
    if action.kind is ActionKind.REVIEW_OUTCOME and action.review_outcome is not None:
        case.outcome = action.review_outcome.value
        original = session.get(Case, case.original_case_id) if case.original_case_id else None
        if original is not None and original.status == State.UNDER_REVIEW.value:
            move(session, original, Event.REVIEW_OUTCOME, now, row,
                 [f"review {case.reference} outcome: {case.outcome}"], on=completed)
    elif action.outcome is not None:
        case.outcome = action.outcome.value
