"""The per-domain loop breaker: stops automatic letters to a domain that answers each one.

A robot that replies to every letter from a new address each time (a helpdesk's
`support+1234@`, a ticket system) defeats the per-address cap and any header test. What it
cannot hide is its rhythm: letter after letter to new addresses of one domain, each answering
mail that arrived within minutes of our previous letter there. When more than
`replies.loop_breaker_letters` of our letters to a domain within an hour have each been
answered that way (a batch of people writing at once answers one letter, however many they
are), automatic letters to the domain stop, the message is flagged and one alert goes to
`health.ops_address` (through the outbox). A person lifts the stop with
`foi-mailbot resume-replies DOMAIN`. Large shared domains where every address is a different
person (freemail, WhatDoTheyKnow) are exempt by `replies.loop_breaker_exempt_domains`. The
state lives in `service_state`, one entry a domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import structlog
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from foi_mailbot.clock import as_utc
from foi_mailbot.outbound.compose import compose, mint_message_id
from foi_mailbot.outbound.outbox import enqueue
from foi_mailbot.parsing.parsed import Address
from foi_mailbot.settings import Settings
from foi_mailbot.storage.models import InboundMessage, OutboxMessage, ServiceState
from foi_mailbot.storage.state import get_state, put_state

log = structlog.get_logger(__name__)

STATE_PREFIX: Final = "loop_breaker:"
WINDOW: Final = timedelta(hours=1)


@dataclass(frozen=True)
class Letter:
    """One automatic letter answering a message: to whom, when queued, when its cause arrived."""

    to_email: str
    queued_at: datetime
    cause_arrived_at: datetime | None


def answered_letters(letters: list[Letter], minutes: int) -> dict[int, int]:
    """For each letter answering mail that arrived within `minutes` of an earlier letter to
    another address of the domain, the index (in `queued_at` order) of that earlier letter:
    the latest one before the mail arrived, which the mail may be an answer to."""
    window = timedelta(minutes=minutes)
    ordered = sorted(letters, key=lambda letter: letter.queued_at)
    answered: dict[int, int] = {}
    for index, letter in enumerate(ordered):
        arrived = letter.cause_arrived_at
        if arrived is None:
            continue
        earlier = [
            i for i, before in enumerate(ordered[:index])
            if before.to_email != letter.to_email
            and timedelta(0) <= arrived - before.queued_at <= window
        ]
        if earlier:
            answered[index] = max(earlier, key=lambda i: ordered[i].queued_at)
    return answered


def trips(letters: list[Letter], candidate: Letter, *, limit: int, minutes: int) -> bool:
    """True when `candidate` would answer one letter too many.

    A robot answers each of our letters, one by one, so every round answers a different
    letter; a batch of people writing at once all arrive after the same letter, and count once.
    """
    ordered = sorted([*letters, candidate], key=lambda letter: letter.queued_at)
    answered = answered_letters(ordered, minutes)
    mine = ordered.index(candidate)
    return mine in answered and len(set(answered.values())) > limit


def is_exempt(domain: str, settings: Settings) -> bool:
    """True for shared domains where every address is a different person."""
    exempt = {d.strip().lower() for d in settings.replies.loop_breaker_exempt_domains}
    return domain.lower() in exempt


def stopped(session: Session, domain: str) -> dict[str, object] | None:
    """The tripped breaker's record for a domain, or None when letters may go."""
    state = get_state(session, STATE_PREFIX + domain.lower())
    return state if state and state.get("tripped_at") else None


@dataclass(frozen=True)
class Stop:
    """Why no automatic letter may go to a domain: stopped already, or this letter trips it."""

    reason: str
    trips: str | None = None  # the domain this letter would stop (see `trip`)


def check(
    session: Session,
    settings: Settings,
    to: Address,
    row: InboundMessage,
    now: datetime,
) -> Stop | None:
    """None when an automatic letter to `to` answering `row` may go; else why not. Reads only:
    when this letter would be one too many, `trips` names the domain for `trip`."""
    domain = to.domain.lower()
    if not domain or is_exempt(domain, settings):
        return None
    state = _state(session, domain)
    if state.get("tripped_at"):
        return Stop(_stopped_reason(domain))
    since = now - WINDOW
    if state.get("resumed_at"):  # letters before a person lifted the stop count no more
        since = max(since, as_utc(datetime.fromisoformat(str(state["resumed_at"]))))
    candidate = Letter(to.email.lower(), now, as_utc(row.arrived_at))
    if candidate.cause_arrived_at is None or candidate.cause_arrived_at < since:
        # Mail that arrived before every letter that counts can answer none of them (a
        # backlog's older mail): no need to read the domain's letters of the last hour.
        return None
    replies = settings.replies
    letters = _recent_letters(session, domain, since)
    if not trips(letters, candidate, limit=replies.loop_breaker_letters,
                 minutes=replies.loop_breaker_minutes):
        return None
    return Stop(_stopped_reason(domain), trips=domain)


def _state(session: Session, domain: str) -> dict[str, Any]:
    """The domain's breaker state."""
    query = select(ServiceState.value).where(ServiceState.key == STATE_PREFIX + domain)
    value = session.execute(query).scalar()
    return dict(value) if isinstance(value, dict) else {}


def _stopped_reason(domain: str) -> str:
    return (f"automatic letters to {domain} are stopped: it answered each of our letters from a "
            f"new address within minutes (a mail loop?); a person lifts this with "
            f"`foi-mailbot resume-replies {domain}`")


def _recent_letters(session: Session, domain: str, since: datetime) -> list[Letter]:
    """Automatic letters answering mail, to the domain, queued since `since`."""
    suffix = f"@{domain}"
    found = session.execute(_LETTERS_SINCE, {"since": since, "suffix": suffix})
    rows = [(to, at, cause) for to, at, cause in found if to.endswith(suffix)]
    if not rows:
        return []
    causes = {cause for _to, _at, cause in rows}
    arrivals = select(InboundMessage.id, InboundMessage.arrived_at).where(
        InboundMessage.id.in_(causes))
    arrived: dict[int, datetime] = dict(session.execute(arrivals).all())
    return [
        Letter(to, as_utc(at), as_utc(arrived[cause]) if cause in arrived else None)
        for to, at, cause in rows
    ]


_LETTERS_SINCE = select(
    OutboxMessage.to_email, OutboxMessage.created_at, OutboxMessage.caused_by
).where(
    OutboxMessage.created_at >= bindparam("since"),
    OutboxMessage.automatic.is_(True),
    OutboxMessage.caused_by.is_not(None),
    OutboxMessage.to_email.endswith(bindparam("suffix")),
)


def trip(session: Session, settings: Settings, domain: str, now: datetime) -> None:
    """Stop automatic letters to the domain: its state, a log line and one alert to ops."""
    put_state(session, STATE_PREFIX + domain, {"tripped_at": now.isoformat()}, now)
    ops = settings.health.ops_address
    log.error("loop_breaker.tripped", domain=domain, emailed=bool(ops))
    if not ops:
        return
    from_addr = settings.smtp.from_address or settings.organisation.mailbox_address
    message_id = mint_message_id(from_addr.rpartition("@")[2])
    text = (
        f"foi-mailbot for {settings.organisation.name} has stopped sending automatic letters to "
        f"{domain}: more than {settings.replies.loop_breaker_letters} of its addresses each "
        f"answered one of our letters within {settings.replies.loop_breaker_minutes} minutes "
        f"in the last hour, the way an automatic responder does.\n\n"
        f"Mail from {domain} is still stored and opened as cases; it waits for a person, marked "
        f"as such. When the responder is dealt with, run:\n\n"
        f"  foi-mailbot resume-replies {domain}\n"
    )
    message = compose(
        from_addr=from_addr, from_name=f"{settings.organisation.name} foi-mailbot",
        to=Address(name="", email=ops),
        subject=f"foi-mailbot stopped automatic letters to {domain} (mail loop?)",
        text=text, html=None, message_id=message_id, in_reply_to=None, references=(),
        automatic=True, date=now,
    )
    enqueue(session, key=f"loop_breaker:{domain}:{now.isoformat()}", message=message,
            message_id=message_id, to_email=ops, purpose="alert", now=now, automatic=True)


def resume(session: Session, domain: str, now: datetime) -> bool:
    """Lift a tripped breaker; False when the domain's letters were not stopped."""
    domain = domain.strip().lower().lstrip("@")
    if stopped(session, domain) is None:
        return False
    put_state(session, STATE_PREFIX + domain, {"resumed_at": now.isoformat()}, now)
    log.warning("loop_breaker.resumed", domain=domain)
    return True


def stopped_domains(session: Session) -> list[str]:
    """Domains whose automatic letters are stopped now."""
    rows = session.scalars(
        select(ServiceState).where(ServiceState.key.startswith(STATE_PREFIX))
    ).all()
    return sorted(r.key.removeprefix(STATE_PREFIX) for r in rows if r.value.get("tripped_at"))
