"""Store first: commit a message's raw bytes and source key before anything else happens to it."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from foi_mailbot.clock import Clock
from foi_mailbot.parsing.headers import header_message_id
from foi_mailbot.sources import RawMail
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import InboundMessage, MessageStatus, SourceCopy


@dataclass(frozen=True)
class Stored:
    """The row a message was stored as, and whether this call created it."""

    message_pk: int
    created: bool


def store_raw(session: Session, mail: RawMail, *, now_clock: Clock) -> Stored:
    """Record one copy of a message; a second delivery of the same bytes becomes one record."""
    copy = session.get(SourceCopy, mail.source_key)
    if copy is not None:
        return Stored(copy.message_pk, created=False)
    digest = hashlib.sha256(mail.raw).hexdigest()
    now = now_clock.now()
    existing = session.scalars(
        select(InboundMessage.id).where(InboundMessage.content_hash == digest)
    ).first()
    created = existing is None
    if existing is None:
        row = InboundMessage(
            mailbox=mail.mailbox,
            folder=mail.folder,
            direction=mail.direction,
            arrived_at=mail.arrived_at,
            stored_at=now,
            content_hash=digest,
            message_id=header_message_id(mail.raw),
            size=len(mail.raw),
            raw=mail.raw,
            status=MessageStatus.STORED,
            # Counted when tried (see `Pipeline`): a message stored by a process that died
            # before trying it has not failed anything.
            attempts=0,
        )
        session.add(row)
        session.flush()
        existing = row.id
    session.add(
        SourceCopy(
            source_key=mail.source_key,
            message_pk=existing,
            uidvalidity=mail.uidvalidity,
            uid=mail.uid,
            seen_at=now,
        )
    )
    return Stored(existing, created=created)


def store(factory: sessionmaker[Session], mail: RawMail, clock: Clock) -> Stored:
    """`store_raw` in its own durable transaction.

    Two instances storing the same copy at once collide on a unique key; the loser retries
    once and then finds the winner's row.
    """
    try:
        with session_scope(factory) as session:
            return store_raw(session, mail, now_clock=clock)
    except IntegrityError:
        with session_scope(factory) as session:
            return store_raw(session, mail, now_clock=clock)


def store_many(
    factory: sessionmaker[Session], mails: Sequence[RawMail], clock: Clock
) -> list[Stored]:
    """`store_raw` for several messages in one durable transaction (one fsync, not one each).

    On a unique-key collision with another instance the batch is stored one by one instead.
    """
    if not mails:
        return []
    try:
        with session_scope(factory) as session:
            return [store_raw(session, mail, now_clock=clock) for mail in mails]
    except IntegrityError:
        return [store(factory, mail, clock) for mail in mails]
