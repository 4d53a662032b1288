"""Store first: commit a message's raw bytes and source key before anything else happens to it."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from foi_mailbot.clock import Clock
from foi_mailbot.parsing.headers import header_message_id
from foi_mailbot.sources import RawMail
from foi_mailbot.storage.blobs import insert_raw
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import InboundMessage, MessageStatus, SourceCopy


@dataclass(frozen=True)
class Stored:
    """The row a message was stored as, and whether this call created it."""

    message_pk: int
    created: bool


def store_raw(session: Session, mail: RawMail, *, now_clock: Clock) -> Stored:
    """Record one copy of a message; a second delivery of the same bytes becomes one record."""
    return _store_batch(session, [mail], now_clock)[0]


def _store_batch(session: Session, mails: Sequence[RawMail], clock: Clock) -> list[Stored]:
    """Record each copy, looking up known copies and known bytes once for the whole batch."""
    keys = {mail.source_key for mail in mails}
    copies: dict[str, int] = dict(session.execute(
        select(SourceCopy.source_key, SourceCopy.message_pk).where(SourceCopy.source_key.in_(keys))
    ).all())
    digests = {m.source_key: hashlib.sha256(m.raw).hexdigest() for m in mails
               if m.source_key not in copies}
    known: dict[str, int] = dict(session.execute(
        select(InboundMessage.content_hash, InboundMessage.id)
        .where(InboundMessage.content_hash.in_(set(digests.values())))
    ).all()) if digests else {}
    now = clock.now()
    new_rows: dict[str, tuple[RawMail, dict[str, object]]] = {}
    for mail in mails:
        digest = digests.get(mail.source_key)
        if digest is not None and digest not in known and digest not in new_rows:
            new_rows[digest] = (mail, _row(mail, digest, now))
    # Core statements on the session's connection, one of each for the batch: nothing of a
    # stored message is read back through this session, and the ORM's unit of work around
    # the same INSERTs cost as much as the rest of storing.
    connection = session.connection()
    if new_rows:
        ids = connection.execute(
            insert(InboundMessage).returning(InboundMessage.id, sort_by_parameter_order=True),
            [row for _mail, row in new_rows.values()],
        ).scalars().all()
        insert_raw(connection, [
            (message_pk, mail.raw)
            for message_pk, (mail, _row_values) in zip(ids, new_rows.values(), strict=True)
        ])
        known.update(zip(new_rows, ids, strict=True))
    stored: list[Stored] = []
    copied: list[dict[str, object]] = []
    for mail in mails:
        if mail.source_key in copies:
            stored.append(Stored(copies[mail.source_key], created=False))
            continue
        digest = digests[mail.source_key]
        message_pk = known[digest]
        # Only the first copy of bytes new to us created their row.
        created = new_rows.pop(digest, None) is not None
        copies[mail.source_key] = message_pk
        copied.append({"source_key": mail.source_key, "message_pk": message_pk,
                       "uidvalidity": mail.uidvalidity, "uid": mail.uid, "seen_at": now})
        stored.append(Stored(message_pk, created=created))
    if copied:
        connection.execute(insert(SourceCopy), copied)
    return stored


def _row(mail: RawMail, digest: str, now: datetime) -> dict[str, object]:
    return {
        "mailbox": mail.mailbox,
        "folder": mail.folder,
        "direction": mail.direction,
        "arrived_at": mail.arrived_at,
        "stored_at": now,
        "content_hash": digest,
        "message_id": header_message_id(mail.raw),
        "size": len(mail.raw),
        "status": MessageStatus.STORED,
        # Counted when tried (see `Pipeline`): a message stored by a process that died
        # before trying it has not failed anything.
        "attempts": 0,
        "history": mail.history,
    }


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
            return _store_batch(session, mails, clock)
    except IntegrityError:
        return [store(factory, mail, clock) for mail in mails]
