"""Acknowledgements: decide whether we may answer automatically, render, and enqueue.

Runs inside the transaction that applied the message, so the case change and its
acknowledgement commit together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from jinja2 import Environment
from sqlalchemy.orm import Session

from foi_mailbot.clock import as_utc
from foi_mailbot.deadlines.laws import Law
from foi_mailbot.outbound.compose import compose, mint_message_id, reply_subject
from foi_mailbot.outbound.enqueueing import automatic_replies_since, enqueue
from foi_mailbot.outbound.render import AckContext, law_name, render_pair
from foi_mailbot.parsing.parsed import Address, ParsedMail
from foi_mailbot.settings import Settings
from foi_mailbot.storage.models import Case, InboundMessage

TEMPLATES = {
    "acknowledgement": "acknowledgement/new_request",
    "clarification_ack": "acknowledgement/clarification_received",
    "review_ack": "acknowledgement/review_request",
    "sar_ack": "acknowledgement/subject_access",
}


@dataclass(frozen=True)
class Refusal:
    """Why no automatic reply may be sent (the message is flagged instead)."""

    flag: str
    reason: str


def may_auto_reply(
    session: Session, settings: Settings, to: Address | None, now: datetime
) -> Refusal | None:
    """None when an automatic reply to this address is safe; else why not."""
    if to is None or "@" not in to.email:
        return Refusal("no_reply_address", "the message has no usable sender address")
    local = to.email.split("@", 1)[0]
    if to.email in settings.organisation.all_mailbox_addresses():
        return Refusal("own_address", f"{to.email} is our own mailbox")
    for pattern in settings.replies.noreply_patterns:
        if pattern.lower() in local:
            return Refusal("noreply_sender", f"the sender's address contains '{pattern}'")
    recent = automatic_replies_since(session, to.email, now - timedelta(days=1))
    limit = settings.replies.max_auto_replies_per_day
    if recent >= limit:
        return Refusal(
            "reply_limit",
            f"{to.email} already had {recent} automatic replies in the last day (limit {limit})",
        )
    return None


@dataclass(frozen=True)
class Acknowledger:
    """Builds and enqueues the acknowledgement for a case event."""

    settings: Settings
    env: Environment

    def enqueue(
        self,
        session: Session,
        *,
        case: Case,
        purpose: str,
        key: str,
        mail: ParsedMail,
        row: InboundMessage,
        now: datetime,
        original: Case | None = None,
    ) -> Refusal | None:
        """Render and enqueue one acknowledgement; returns a Refusal instead when unsafe."""
        reply_to = mail.reply_to[0] if mail.reply_to else mail.from_addr
        refusal = may_auto_reply(session, self.settings, reply_to, now)
        if refusal is not None or reply_to is None:
            return refusal
        org = self.settings.organisation
        context = AckContext(
            organisation=org.name,
            reference=case.reference,
            law=Law(case.law),
            law_name=law_name(Law(case.law), scotland=org.jurisdiction == "scotland"),
            applicant_name=case.applicant_name,
            subject=case.subject,
            received=case.received_on,
            due=case.due_on,
            due_reasons=tuple((case.deadline or {}).get("holiday_notes", ())),
            review_of=original.reference if original is not None else None,
            restarted=purpose == "clarification_ack",
        )
        rendered = render_pair(self.env, TEMPLATES[purpose], context)
        from_addr = self.settings.smtp.from_address or org.mailbox_address
        message_id = mint_message_id(from_addr.rpartition("@")[2])
        message = compose(
            from_addr=from_addr,
            from_name=org.name,
            to=reply_to,
            subject=reply_subject(case.reference, mail.subject or case.subject),
            text=rendered.text,
            html=rendered.html,
            message_id=message_id,
            in_reply_to=mail.message_id,
            references=[*mail.references, *([mail.message_id] if mail.message_id else [])],
            automatic=True,
            date=as_utc(now),
        )
        enqueue(
            session,
            key=key,
            message=message,
            message_id=message_id,
            to_email=reply_to.email,
            purpose=purpose,
            now=now,
            case=case,
            caused_by=row.id,
        )
        return None


