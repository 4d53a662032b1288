"""A person's answer to a hold: confirm an imported case, or send its held letter.

`confirm` lifts the "to confirm" hold on a case imported with the mailbox's history: reminders
resume; nothing is sent. `send_held` renders the acknowledgement as of today (saying it is
late, or that the response is due soon, and apologising) and queues it for the requester;
a letter a person asks for is always sent.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from foi_mailbot.cases.holding import TO_CONFIRM, lateness
from foi_mailbot.cases.lifecycle import Event, State
from foi_mailbot.cases.register import add_event, audit, move
from foi_mailbot.cases.service import Services
from foi_mailbot.clock import local_date
from foi_mailbot.deadlines.laws import Law
from foi_mailbot.outbound.acks import requester
from foi_mailbot.parsing import parse
from foi_mailbot.storage.models import Case, InboundMessage, OutboxMessage, RawMessage


def confirm(session: Session, case: Case, now: datetime, who: str = "cli") -> bool:
    """Lift a "to confirm" hold; False when the case had none."""
    if case.hold != TO_CONFIRM:
        return False
    case.hold = None
    case.updated_at = now
    add_event(session, case, kind="confirmed", on=local_date(now), now=now,
              reasons=["confirmed by a person: reminders resume"])
    audit(session, at=now, action="case.confirmed", cause=who, case=case)
    return True


def held_letter_key(case: Case) -> str:
    """The outbox key of the letter `send_held` releases: the case's acknowledgement."""
    purpose = "review_ack" if case.is_review else "acknowledgement"
    return f"case:{case.reference}:{purpose}"


def letter_queued(session: Session, case: Case) -> bool:
    """True once the case's acknowledgement is in the outbox (queued or sent)."""
    key = held_letter_key(case)
    found = session.scalars(select(OutboxMessage.id).where(OutboxMessage.key == key)).first()
    return found is not None


def send_held(session: Session, services: Services, case: Case, now: datetime) -> str:
    """Queue the case's held acknowledgement; returns what was done, in words."""
    purpose = "review_ack" if case.is_review else "acknowledgement"
    key = held_letter_key(case)
    if letter_queued(session, case):
        if case.hold is not None and case.hold != TO_CONFIRM:
            case.hold = None  # what was held was a later letter; nothing is left to send
        return f"{case.reference} was already acknowledged; nothing sent"
    row = session.get(InboundMessage, case.opened_by) if case.opened_by else None
    raw = session.get(RawMessage, row.id) if row is not None else None
    if row is None or raw is None:
        return f"{case.reference} has no stored message to answer; nothing sent"
    zone = services.settings.organisation.zone
    late = lateness(case.due_on, local_date(now, zone), Law(case.law), services.calendars)
    original = session.get(Case, case.original_case_id) if case.original_case_id else None
    mail = parse(raw.raw)
    refusal = services.acks.refusal(session, requester(case), row, mail, now, released=True)
    if refusal is not None:
        services.acks.refuse(session, refusal, now)
        return f"{case.reference}: not sent: {refusal.reason}"
    services.acks.enqueue(session, case=case, purpose=purpose, key=key, mail=mail, row=row,
                          now=now, original=original, released=late)
    if case.status == State.REQUESTED.value:
        move(session, case, Event.ACKNOWLEDGED, now, None, ["held letter sent by a person"])
    case.hold = None
    audit(session, at=now, action="case.letter_released", cause="cli", case=case,
          detail={"lateness": late[0]})
    said = {"late": "says the response is late", "due_soon": "says the response is due soon"}
    return f"{case.reference}: letter queued ({said.get(late[0] or '', 'on time')})"
