"""Acknowledgements: decide whether we may answer automatically, render, and enqueue.

Runs inside the transaction that applied the message, so the case change and its
acknowledgement commit together or not at all. Deciding (`Acknowledger.refusal`) only looks
things up, and is asked before the message writes anything; enqueueing only writes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from jinja2 import Environment
from sqlalchemy.orm import Session

from foi_mailbot.clock import as_utc, local_date
from foi_mailbot.deadlines.laws import Law
from foi_mailbot.outbound import breaker
from foi_mailbot.outbound.compose import compose, mint_message_id, reply_subject
from foi_mailbot.outbound.outbox import automatic_replies_since, enqueue
from foi_mailbot.outbound.render import AckContext, law_name, render_pair
from foi_mailbot.parsing import unreadable
from foi_mailbot.parsing.parsed import Address, ParsedMail
from foi_mailbot.settings import Settings
from foi_mailbot.storage.models import Case, InboundMessage

# Limits on automatic replies that a person releasing a held letter has weighed already.
_PERSON_MAY_OVERRIDE = frozenset({"reply_limit", "noreply_sender"})

TEMPLATES = {
    "acknowledgement": "acknowledgement/new_request",
    "clarification_ack": "acknowledgement/clarification_received",
    "review_ack": "acknowledgement/review_request",
    "sar_ack": "acknowledgement/subject_access",
}


_NEUTRAL_SUBJECT = "Your information request"


@dataclass(frozen=True)
class Refusal:
    """Why no automatic reply may be sent (the message is flagged instead)."""

    flag: str
    reason: str
    # The domain whose loop breaker this letter would trip (`breaker`): tripped only when the
    # letter is refused, not when it is held for a person anyway (see `Acknowledger.refuse`).
    trips: str | None = None


def _letter_address(name: str | None, email: str | None) -> Address | None:
    email = (email or "").strip().lower()
    return Address(name or "", email) if email else None


def requester(case: Case) -> Address | None:
    """Where every letter about a case goes: its requester, never a new message's Reply-To."""
    return _letter_address(case.applicant_name, case.applicant_email)


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

    def refusal(
        self, session: Session, to: Address | None, row: InboundMessage, mail: ParsedMail,
        now: datetime, *, released: bool = False,
    ) -> Refusal | None:
        """Why no automatic letter may go to `to` answering `row` now; None when one may.

        Look-ups only, made before the message writes anything: a look-up writes the
        transaction's pending changes first, and a case opened before it would be written
        twice (opened, then acknowledged). `released`: a person asked for the letter, which
        lifts the limits they have weighed already."""
        to = _letter_address(to.name, to.email) if to is not None else None
        refusal = may_auto_reply(session, self.settings, to, now)
        if released and refusal is not None and refusal.flag in _PERSON_MAY_OVERRIDE:
            refusal = None
        if refusal is not None or to is None:
            return refusal
        problem = unreadable(mail)
        if problem is not None:  # an answer to words we could not read could be anything
            return Refusal("unreadable", problem)
        stop = breaker.check(session, self.settings, to, row, now)
        if stop is not None:
            return Refusal("loop_breaker", stop.reason, trips=stop.trips)
        return None

    def refuse(self, session: Session, refusal: Refusal, now: datetime) -> None:
        """Act on a refusal of a letter that would have gone: a letter one too many for its
        domain trips the loop breaker (state, log, one alert)."""
        if refusal.trips is not None:
            breaker.trip(session, self.settings, refusal.trips, now)

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
        released: tuple[str | None, int, int | None] | None = None,
    ) -> None:
        """Render and enqueue one acknowledgement to the case's requester, which `refusal`
        allowed. `released`: a held letter a person asked for, with its lateness (see
        `cases.holding.lateness`)."""
        to = requester(case)
        if to is None:
            msg = f"{case.reference} has no requester address to write to"
            raise ValueError(msg)
        # Sender-chosen words (subject, name) go only back to the address that wrote them:
        # a letter to any other (a web form's Reply-To) could carry them to anyone.
        quotes = mail.from_addr is not None and mail.from_addr.email.lower() == to.email
        org = self.settings.organisation
        context = AckContext(
            organisation=org.name,
            reference=case.reference,
            law=Law(case.law),
            law_name=law_name(Law(case.law), scotland=org.jurisdiction == "scotland"),
            applicant_name=case.applicant_name if quotes else "",
            subject=case.subject if quotes else "",
            received=case.received_on,
            due=case.due_on,
            due_reasons=tuple((case.deadline or {}).get("holiday_notes", ())),
            review_of=original.reference if original is not None else None,
            restarted=purpose == "clarification_ack",
            clarified_on=(local_date(row.arrived_at, org.zone)
                          if purpose == "clarification_ack" else None),
        )
        if released is not None:
            context = replace(context, lateness=released[0], working_days_late=released[1],
                              working_days_left=released[2])
        rendered = render_pair(self.env, TEMPLATES[purpose], context)
        from_addr = self.settings.smtp.from_address or org.mailbox_address
        message_id = mint_message_id(from_addr.rpartition("@")[2])
        message = compose(
            from_addr=from_addr,
            from_name=org.name,
            to=to if quotes else Address("", to.email),
            subject=reply_subject(
                case.reference, (mail.subject or case.subject) if quotes else _NEUTRAL_SUBJECT
            ),
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
            to_email=to.email,
            purpose=purpose,
            now=now,
            case=case,
            caused_by=row.id,
        )
