"""The named look-ups of the message path, in one place.

Every look-up runs through the session (`Session.execute`), which writes the transaction's
pending changes first: a look-up sees every row the message's own transaction has made, and
every row committed before it. Nothing scans the session for rows not yet written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import NamedTuple

from sqlalchemy import and_, bindparam, case, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from foi_mailbot.storage.models import (
    Case,
    InboundMessage,
    MessageStatus,
    OutboxMessage,
    RawMessage,
    ServiceState,
)

PENDING = (MessageStatus.STORED, MessageStatus.PARSED, MessageStatus.CLASSIFIED)
"""A stored message not yet applied (parsed and classified are left by older versions)."""
CLAIMABLE = (*PENDING, MessageStatus.PROCESSING)
"""A message that may be taken up: pending, or left in hand by a process that stopped."""

# Built once: they are asked for every message.
_OWN_MESSAGE_ID = (
    select(OutboxMessage.id).where(OutboxMessage.message_id == bindparam("message_id")).limit(1)
)
_RAW = select(RawMessage.raw).where(RawMessage.message_pk == bindparam("message_pk"))
_RAW_PART = "SELECT substr(raw, %(at)s, %(size)s) FROM raw_message WHERE message_pk = %(pk)s"
_READ_CHUNK = 4 * 1024 * 1024
_RAW_HEAD = select(func.substr(RawMessage.raw, 1, bindparam("limit"))).where(
    RawMessage.message_pk == bindparam("message_pk"))
# Only the Message-ID is in the WHERE clause: with the status there too, SQLite picks the status
# index and visits every applied message for each new one (quadratic in a backlog).
_SAME_MESSAGE_ID = select(InboundMessage.status, InboundMessage.from_email).where(
    InboundMessage.message_id == bindparam("message_id"),
    InboundMessage.id != bindparam("message_pk"),
)
_THREAD_VIA_OUTBOX = (
    select(OutboxMessage.case_id)
    .where(OutboxMessage.message_id.in_(bindparam("ids", expanding=True)),
           OutboxMessage.case_id.is_not(None))
    .limit(1)
)
_THREAD_VIA_INBOUND = (
    select(InboundMessage.case_id)
    .where(InboundMessage.message_id.in_(bindparam("ids", expanding=True)),
           InboundMessage.case_id.is_not(None))
    .limit(1)
)
_CLOSED_STATES = ("closed", "review_closed")
_SENDERS_CASES = (
    # Compared one by one: a NOT IN list is written into the SQL at every execution.
    select(Case.id, Case.reference, Case.subject,
           and_(*(Case.status != state for state in _CLOSED_STATES)))
    .where(Case.applicant_email == bindparam("sender"))
    .order_by(Case.id.desc())
)


class Pending(NamedTuple):
    """A message to take up, how many tries it has had, and its size in bytes."""

    pk: int
    attempts: int
    size: int


def pending_messages(session: Session, limit: int | None = None) -> list[Pending]:
    """Messages to take up, oldest first: never-tried ones, then those that failed a try, then
    those left in hand by a process that stopped (the message most often in hand at a second
    kill is the first one after a restart: only a message that really kills the process
    should be handed to a person for it)."""
    left_in_hand = case((InboundMessage.status == MessageStatus.PROCESSING, 1), else_=0)
    stmt = (
        select(InboundMessage.id, InboundMessage.attempts, InboundMessage.size)
        .where(InboundMessage.status.in_(CLAIMABLE))
        .order_by(left_in_hand, InboundMessage.attempts, InboundMessage.arrived_at,
                  InboundMessage.id)
        .limit(limit)
    )
    return [Pending(pk, attempts, size) for pk, attempts, size in session.execute(stmt)]


def message_for_update(session: Session, message_pk: int) -> InboundMessage | None:
    """A stored message's row, locked for the transaction (on databases that lock rows)."""
    return session.get(InboundMessage, message_pk, with_for_update=True)


def raw_of(session: Session, message_pk: int, limit: int | None = None) -> bytes | None:
    """A stored message's bytes (None once purged), not kept in the session; with `limit`,
    only its first `limit` bytes are read from the database."""
    return _raw_on(session.connection(), message_pk, limit)


@contextmanager
def raw_reader(factory: sessionmaker[Session]) -> Iterator[Callable[[int], bytes | None]]:
    """Reads stored messages' bytes one after another (a backlog's read-ahead), on one
    connection in autocommit: no transaction is held open between reads, and no session is
    set up for each, which cost about as much as the read."""
    with factory.kw["bind"].connect().execution_options(isolation_level="AUTOCOMMIT") as (
            connection):
        yield lambda message_pk: _raw_on(connection, message_pk, None)


def _raw_on(connection: Connection, message_pk: int, limit: int | None) -> bytes | None:
    # Stored bytes are written by Core (`storage.blobs`), never pending in a session: read
    # on the connection, with nothing for a session to write first.
    if connection.dialect.name == "postgresql":
        return _raw_as_stored(connection, message_pk, limit)
    if limit is None:
        raw: bytes | None = connection.execute(_RAW, {"message_pk": message_pk}).scalar()
        return raw
    head: bytes | None = connection.execute(
        _RAW_HEAD, {"message_pk": message_pk, "limit": limit}).scalar()
    return head


def _raw_as_stored(connection: Connection, message_pk: int, limit: int | None) -> bytes | None:
    """On PostgreSQL: the bytes in binary form (as text they come back as hex, twice their
    size), a few MB a query, so the driver never holds a large body whole beside its copy."""
    chunks: list[bytes] = []
    read = 0
    driver = connection.connection.driver_connection
    with driver.cursor(binary=True) as cursor:  # type: ignore[union-attr]
        while limit is None or read < limit:
            size = _READ_CHUNK if limit is None else min(_READ_CHUNK, limit - read)
            cursor.execute(_RAW_PART, {"pk": message_pk, "at": read + 1, "size": size})
            found = cursor.fetchone()
            if found is None:
                return None  # purged
            chunks.append(found[0])
            read += len(found[0])
            if len(found[0]) < size:
                break  # the end of the message
    return b"".join(chunks)


def is_our_message_id(session: Session, message_id: str) -> bool:
    """True when one of our outgoing messages carries this Message-ID."""
    return session.execute(_OWN_MESSAGE_ID, {"message_id": message_id}).first() is not None


def same_message_applied(
    session: Session, message_pk: int, message_id: str | None, from_email: str | None
) -> bool:
    """True when another message with this Message-ID and sender was applied already (the
    same mail delivered again, or re-encoded on its way)."""
    if not message_id:
        return False
    same = session.execute(_SAME_MESSAGE_ID, {"message_id": message_id, "message_pk": message_pk})
    return any(
        status == MessageStatus.APPLIED and sender == from_email for status, sender in same
    )


def case_replied_to(session: Session, message_ids: Sequence[str]) -> Case | None:
    """The case of a message (ours or received) with one of these Message-IDs; for a case
    merged since, the case it was merged into."""
    if not message_ids:
        return None
    params = {"ids": list(message_ids)}
    case_id = session.execute(_THREAD_VIA_OUTBOX, params).scalar() or (
        session.execute(_THREAD_VIA_INBOUND, params).scalar()
    )
    return merged_or_self(session, session.get(Case, case_id)) if case_id is not None else None


class SenderCase(NamedTuple):
    """One case opened for an applicant address, as the matching rules weigh it."""

    id: int
    reference: str
    subject: str
    open: bool


def cases_of_sender(session: Session, sender: str) -> list[SenderCase]:
    """Every case opened for this applicant address, newest first."""
    return [SenderCase(case_id, reference, subject, bool(is_open)) for
            case_id, reference, subject, is_open in
            session.execute(_SENDERS_CASES, {"sender": sender})]


def case_by_reference(session: Session, reference: str) -> Case | None:
    """The case with this reference, if any; a case merged into another answers with that one."""
    return merged_or_self(session, session.scalars(
        select(Case).where(Case.reference == reference)).first())


def merged_or_self(session: Session, case: Case | None) -> Case | None:
    """The case a merged case was merged into (following a chain of merges), else the case."""
    for _ in range(5):  # merges can chain; a bound keeps a bad record from looping
        if case is None or case.outcome != "merged":
            break
        merged = session.get(ServiceState, f"merged:{case.reference}")
        into = merged.value.get("into") if merged is not None else None
        found = session.scalars(select(Case).where(Case.reference == into)).first() if into else (
            None)
        if found is None:
            break
        case = found
    return case


def open_cases_of_sender(session: Session, sender: str) -> list[SenderCase]:
    """Each open case of this applicant address, newest first."""
    return [case for case in cases_of_sender(session, sender) if case.open]


def accepted_sender(session: Session, reference: str) -> str | None:
    """The address a person accepted as acting on this case beside its requester, if any."""
    state = session.get(ServiceState, f"accepted_sender:{reference}")
    email = state.value.get("email") if state is not None else None
    return email.lower() if isinstance(email, str) else None
