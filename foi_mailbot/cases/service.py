"""Applying a classified message to the register: open, attach, move the clock, enqueue replies.

Called by the pipeline inside one savepoint per message; returns what it did in words, which is
stored on the message and shown in the timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy.orm import Session

from foi_mailbot.cases.holding import TO_CONFIRM, hold_for, put_on_hold
from foi_mailbot.cases.lifecycle import Event, State
from foi_mailbot.cases.matching import Match
from foi_mailbot.cases.reference import ReferenceCodec
from foi_mailbot.cases.register import (
    Calendars,
    NewCase,
    add_event,
    move,
    open_case,
    refresh_deadline,
)
from foi_mailbot.cases.senders import FLAG_TEXT as SENDER_FLAG_TEXT
from foi_mailbot.cases.senders import requester_of
from foi_mailbot.cases.staff import apply_staff_action, is_internal, staff_match
from foi_mailbot.cases.subject_access import copy_to_dpo
from foi_mailbot.classify.base import Classification, Kind
from foi_mailbot.clock import local_date
from foi_mailbot.deadlines.laws import EventKind, Law
from foi_mailbot.errors import IllegalTransition
from foi_mailbot.outbound.acks import Acknowledger, Refusal, requester
from foi_mailbot.parsing import unreadable
from foi_mailbot.parsing.parsed import Address, ParsedMail
from foi_mailbot.settings import Settings
from foi_mailbot.storage.models import Case, InboundMessage


@dataclass(frozen=True)
class Services:
    """What applying a message needs, built once by the composition root."""

    settings: Settings
    codec: ReferenceCodec
    calendars: Calendars
    acks: Acknowledger


@dataclass
class Outcome:
    """What applying did: a sentence, the case, and anything a person must look at."""

    effect: str
    case: Case | None = None
    attention: list[str] | None = None

    def flag(self, reason: str) -> None:
        """Ask a person to look at this message."""
        self.attention = [*(self.attention or []), reason]


class _Applying(NamedTuple):
    """Everything one handler reads; unpacked at the top of each."""

    session: Session
    services: Services
    row: InboundMessage
    mail: ParsedMail
    verdict: Classification
    match: Match
    now: datetime
    outcome: Outcome


def apply(
    session: Session,
    services: Services,
    row: InboundMessage,
    mail: ParsedMail,
    verdict: Classification,
    match: Match,
    now: datetime,
) -> Outcome:
    """Apply one message; every branch records what it did."""
    outcome = Outcome(effect="recorded", case=match.case)
    for flag in match.flags:
        outcome.flag(_FLAG_TEXT.get(flag) or SENDER_FLAG_TEXT.get(flag, flag))
    problem = unreadable(mail)
    if problem is not None:
        outcome.flag(problem)
    _HANDLERS[verdict.kind](_Applying(session, services, row, mail, verdict, match, now, outcome))
    if outcome.case is not None:
        row.case = outcome.case
    return outcome


def _law_for(services: Services, verdict: Classification) -> Law:
    law = verdict.law or Law.FOIA
    if services.settings.organisation.jurisdiction == "scotland":
        # FOISA for information in general; the Scottish EIRs for environmental information.
        return {Law.FOIA: Law.FOISA, Law.EIR: Law.EISR}.get(law, law)
    return law


def _new_request(a: _Applying) -> None:
    if "reference_from_other_sender" in a.match.flags or "mistyped_reference" in a.verdict.flags:
        a.outcome.effect = "not opened: a person must check the reference quoted"
        a.outcome.case = None
        return
    law = _law_for(a.services, a.verdict)
    applicant = _applicant(a)
    refusal = _may_write(a, applicant)
    case = _open(a, applicant, law, original=None)
    a.outcome.case = case
    a.outcome.effect = f"opened {case.reference} ({law.value}), due {case.due_on}"
    _acknowledge(a, case, "acknowledgement", refusal)


def _applicant(a: _Applying) -> Address | None:
    """Whose case the message opens: From, or Reply-To only for a no-reply/web-form From
    (`senders.requester_of`)."""
    return requester_of(a.mail, a.services.settings.replies.noreply_patterns).address


def _may_write(a: _Applying, to: Address | None) -> Refusal | None:
    """Why no letter may go to `to`, asked before the handler writes anything: a look-up
    writes what is pending first (see `Acknowledger.refusal`)."""
    return a.services.acks.refusal(a.session, to, a.row, a.mail, a.now)


def _open(a: _Applying, applicant: Address | None, law: Law, *, original: Case | None) -> Case:
    zone = a.services.settings.organisation.zone
    return open_case(
        a.session,
        NewCase(
            law=law,
            applicant_name=applicant.name if applicant else "",
            applicant_email=applicant.email if applicant else "",
            subject=a.mail.subject,
            received_at=a.row.arrived_at,
            received_on=local_date(a.row.arrived_at, zone),
            message_pk=a.row.id,
            status=State.REQUESTED.value,
            original=original,
        ),
        codec=a.services.codec,
        calendars=a.services.calendars,
        now=a.now,
    )


def _acknowledge(
    a: _Applying, case: Case, purpose: str, refusal: Refusal | None, *,
    original: Case | None = None,
) -> None:
    """Queue the case's letter, or hold it for a person, or flag why it may not go.
    `refusal`: as the handler looked it up before writing anything (`Acknowledger.refusal`)."""
    if _held(a.session, a.services, case, a.row, a.now, a.outcome):
        return
    if refusal is not None:
        a.services.acks.refuse(a.session, refusal, a.now)
        a.outcome.flag(f"no acknowledgement sent: {refusal.reason}")
        a.outcome.effect += "; not acknowledged automatically"
        return
    # By reference: a case opened in this transaction has no id until it is written.
    key = (
        f"case:{case.reference}:{purpose}"
        if purpose != "clarification_ack"
        else (f"case:{case.reference}:{purpose}:{a.row.id}")
    )
    a.services.acks.enqueue(a.session, case=case, purpose=purpose, key=key, mail=a.mail,
                            row=a.row, now=a.now, original=original)
    if purpose != "clarification_ack" and case.status == State.REQUESTED.value:
        move(a.session, case, Event.ACKNOWLEDGED, a.now, a.row, ["acknowledgement queued"],
             on=local_date(a.now, a.services.settings.organisation.zone))
    a.outcome.effect += "; acknowledgement queued"


def _held(
    session: Session, services: Services, case: Case, row: InboundMessage, now: datetime,
    outcome: Outcome,
) -> bool:
    """True when the letter must wait for a person (see `cases.holding`)."""
    hold = hold_for(case, row, now, services.calendars, zone=services.settings.organisation.zone,
                    within=services.settings.replies.acknowledge_within_working_days)
    if hold is None:
        return False
    put_on_hold(session, case, hold, row, now)
    if hold.hold == TO_CONFIRM:
        outcome.effect += "; history: held for a person to confirm, nothing sent"
    else:
        outcome.flag(f"letter held: {hold.reason}; reply `send` to release it "
                     f"(`cases send {case.reference}` on the server)")
        outcome.effect += "; letter held for a person"
    return True


def _clarification(a: _Applying) -> None:
    case = a.match.case
    if case is None:
        a.outcome.flag("correspondence about a case that could not be found")
        a.outcome.effect = "not attached: no matching case"
        return
    if a.match.flags:
        a.outcome.effect = f"attached to {case.reference} for a person to check; clock unchanged"
        _note_correspondence(a, case, [a.match.how or "matched"])
        return
    received = local_date(a.row.arrived_at, a.services.settings.organisation.zone)
    if case.status == State.AWAITING_CLARIFICATION.value:
        refusal = _may_write(a, requester(case))
        move(
            a.session,
            case,
            Event.CLARIFICATION_RECEIVED,
            a.now,
            a.row,
            ["the requester answered our request for clarification", a.match.how or ""],
            clock_event=EventKind.CLARIFICATION_RECEIVED,
            on=received,
        )
        refresh_deadline(
            a.session,
            case,
            a.services.calendars,
            now=a.now,
            cause=f"clarification received in message {a.row.id}",
        )
        a.outcome.effect = f"clarification received on {case.reference}; now due {case.due_on}"
        _acknowledge(a, case, "clarification_ack", refusal)
        return
    add_event(
        a.session,
        case,
        kind="correspondence",
        on=received,
        now=a.now,
        message_pk=a.row.id,
        reasons=[a.match.how or "matched to the case"],
    )
    a.outcome.effect = f"correspondence recorded on {case.reference}; clock unchanged"


def _review(a: _Applying) -> None:
    original = a.match.case
    if original is not None and original.is_review:
        add_event(
            a.session,
            original,
            kind="correspondence",
            on=local_date(a.row.arrived_at, a.services.settings.organisation.zone),
            now=a.now,
            message_pk=a.row.id,
            reasons=["further correspondence on a review"],
        )
        a.outcome.effect = f"correspondence recorded on review {original.reference}"
        return
    if a.match.flags:
        a.outcome.effect = "review request held for a person to check the reference"
        a.outcome.case = original
        return
    base_law = Law(original.law) if original is not None else _law_for(a.services, a.verdict)
    applicant = _applicant(a)
    refusal = _may_write(a, applicant)
    review = _open(a, applicant, base_law.review_law(), original=original)
    a.outcome.case = review
    a.outcome.effect = f"opened review {review.reference}, due {review.due_on}"
    if original is None:
        a.outcome.flag("review request with no original case found: link it by hand")
    else:
        try:
            move(
                a.session,
                original,
                Event.REVIEW_REQUESTED,
                a.now,
                a.row,
                [f"internal review requested, opened as {review.reference}"],
                on=local_date(a.now, a.services.settings.organisation.zone),
            )
        except IllegalTransition as exc:
            a.outcome.flag(f"original case {original.reference}: {exc}")
        a.outcome.effect += f" for {original.reference}"
    _acknowledge(a, review, "review_ack", refusal, original=original)


def _record_only(a: _Applying) -> None:
    label = {Kind.COPIED: "copied correspondence", Kind.AUTO_REPLY: "automatic reply"}[
        a.verdict.kind
    ]
    if a.match.case is not None:
        add_event(
            a.session,
            a.match.case,
            kind=a.verdict.kind.value,
            on=local_date(a.row.arrived_at, a.services.settings.organisation.zone),
            now=a.now,
            message_pk=a.row.id,
            reasons=[label, a.match.how or ""],
        )
        a.outcome.effect = f"{label} recorded on {a.match.case.reference}; not answered"
    else:
        a.outcome.effect = f"{label}; not answered"


def _not_foi(a: _Applying) -> None:
    if "subject_access" in a.verdict.flags:
        _subject_access(a)
        return
    a.outcome.flag("not an FOI request: " + "; ".join(a.verdict.reasons))
    a.outcome.effect = "left for a person (not an FOI request)"


def _subject_access(a: _Applying) -> None:
    """A request for one's own data: a SAR case with the one-month clock, or a flag."""
    org = a.services.settings.organisation
    if org.sar_handling == "flag":
        a.outcome.flag("subject access request: " + "; ".join(a.verdict.reasons))
        a.outcome.effect = ("left for a person: a subject access request (UK GDPR Art 15, "
                            "one-month clock)")
        return
    applicant = _applicant(a)
    refusal = _may_write(a, applicant)
    case = _open(a, applicant, Law.SAR, original=None)
    a.outcome.case = case
    a.outcome.effect = f"opened subject access request {case.reference}, due {case.due_on}"
    _acknowledge(a, case, "sar_ack", refusal)
    if org.dpo_address:
        copy_to_dpo(a.session, a.services, case, a.row, a.mail, a.now, org.dpo_address)
        a.outcome.effect += f"; copied to {org.dpo_address}"


def _correspondence(a: _Applying) -> None:
    if "regulator" in a.verdict.flags:
        _regulator(a)
    else:
        _clarification(a)


def _regulator(a: _Applying) -> None:
    """The regulator's letter: attached to the case it names, flagged, never answered."""
    said = [r for r in a.verdict.reasons if r.startswith("The regulator sets a deadline")]
    a.outcome.flag("from the information regulator: "
                   + (said[0] if said else "no deadline stated in the text"))
    case = a.match.case
    if case is None:
        a.outcome.effect = "regulator mail naming none of our cases; not answered"
        return
    _note_correspondence(a, case, ["mail from the information regulator", *said])
    a.outcome.effect = f"regulator mail recorded on {case.reference}; not answered"


def _note_correspondence(a: _Applying, case: Case, reasons: list[str]) -> None:
    """Put the message on the case's timeline as correspondence; the clock does not move."""
    add_event(a.session, case, kind="correspondence",
              on=local_date(a.row.arrived_at, a.services.settings.organisation.zone),
              now=a.now, message_pk=a.row.id, reasons=reasons)


def _staff(a: _Applying) -> None:
    match = staff_match(a.session, a.mail, a.match, a.services.codec.find)
    for flag in match.flags:
        if flag not in a.match.flags:
            a.outcome.flag(_FLAG_TEXT.get(flag, flag))
    if match.case is None:
        a.outcome.effect = "staff message with no case found; no change"
        return
    a.outcome.case = match.case
    result = apply_staff_action(
        a.session,
        a.services.calendars,
        match.case,
        a.row,
        a.mail,
        a.now,
        zone=a.services.settings.organisation.zone,
        flags=a.verdict.flags,
        internal=is_internal(a.mail, a.services.settings.organisation),
    )
    a.outcome.effect = result.effect
    for reason in result.attention:
        a.outcome.flag(reason)


_HANDLERS = {
    Kind.NEW_REQUEST: _new_request,
    Kind.CLARIFICATION: _correspondence,
    Kind.REVIEW_REQUEST: _review,
    Kind.COPIED: _record_only,
    Kind.AUTO_REPLY: _record_only,
    Kind.NOT_FOI: _not_foi,
    Kind.STAFF: _staff,
}

_FLAG_TEXT = {
    "mistyped_reference": "the reference quoted has a wrong check suffix (mistyped?)",
    "unknown_reference": "the reference quoted is not one of our cases",
    "reference_from_other_sender": "quotes a case reference but is not from that case's requester",
    "matched_by_guess": "attached by a guess (the sender's only open case, a similar subject or "
    "a reference in quoted text): a person must confirm the case; the clock was not moved",
    "which_case": "a follow-up on an earlier request, but which case? A person must attach it",
    "regulator": "mail from the information regulator: a person must deal with it",
}
