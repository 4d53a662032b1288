"""A stored message's attempts, counted in the database only.

Taking messages up is a commit of its own before any work: their status becomes `processing`
and their attempts one more. Then each message's work sets `applied` (or `duplicate`, or
`needs_attention`) in a savepoint of its own, committed with the batch; a failure rolls back
that savepoint and puts the message back to `stored` with its error, or hands it to a person
at `MAX_ATTEMPTS`. A message found `processing` was in hand when a process stopped (killed, out
of memory): it is taken up again after the others, alone, and a message that stopped the
process `MAX_ATTEMPTS` times goes to a person untried. A failure of the database itself is not
the messages': their claims are released and their attempts uncounted.
"""

from __future__ import annotations

from typing import Final

import structlog
from sqlalchemy import bindparam, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from foi_mailbot.storage import queries
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import InboundMessage, MessageStatus

log = structlog.get_logger("foi_mailbot.pipeline")  # the pipeline's own events

MAX_ATTEMPTS: Final = 3
# Failures of the database rather than of a message: SQLite BUSY, LOCKED, IOERR and FULL;
# PostgreSQL connection exceptions, insufficient resources (disk full) and operator shutdown.
_SQLITE_UNAVAILABLE: Final = frozenset({5, 6, 10, 13})
_SQLSTATES_UNAVAILABLE: Final = ("08", "53", "57P")
_CLAIM: Final = (
    update(InboundMessage)
    .where(InboundMessage.id.in_(bindparam("message_pks", expanding=True)),
           InboundMessage.status.in_(queries.CLAIMABLE),
           InboundMessage.attempts < MAX_ATTEMPTS)
    .values(status=MessageStatus.PROCESSING, attempts=InboundMessage.attempts + 1)
    .returning(InboundMessage)
)


def claim(session: Session, message_pks: list[int]) -> dict[int, InboundMessage]:
    """Take the messages up: `processing`, one attempt more, committed in `session`; returns
    their rows by id, loaded by the claim itself, for the work's own transaction in the same
    session (whose factory keeps loaded values after commit). A message not there to take is
    left out, and so is one that goes to a person instead, having used up its attempts."""
    try:
        # One statement in the usual case: claimed only if pending and short of the limit.
        rows = {row.id: row for row in session.scalars(_CLAIM, {"message_pks": message_pks})}
        for message_pk in set(message_pks) - rows.keys():
            row = queries.message_for_update(session, message_pk)
            if row is not None and row.status in queries.CLAIMABLE:
                # Every try so far stopped the process, or failed: a person looks at it.
                _give_up(row, row.last_error or "the process stopped while it was in hand")
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return rows


def failed(row: InboundMessage, exc: Exception) -> None:
    """Record the error of a counted try on its row (whose work was rolled back): back to
    `stored`, or to a person at the limit."""
    error = f"{exc.__class__.__name__}: {exc}"[:2000]
    # The class only: exception text can quote headers or SQL parameters (applicant data);
    # the full error is stored on the message for a person to read.
    log.error("message.failed", error_type=exc.__class__.__name__)
    row.last_error = error
    if row.attempts >= MAX_ATTEMPTS:
        _give_up(row, error)
    else:
        row.status = MessageStatus.STORED


def release(factory: sessionmaker[Session], message_pks: list[int]) -> None:
    """Put back messages taken up when the database failed, their attempts uncounted."""
    with session_scope(factory) as session:
        for message_pk in message_pks:
            row = queries.message_for_update(session, message_pk)
            if row is not None and row.status == MessageStatus.PROCESSING:
                row.status, row.attempts = MessageStatus.STORED, max(row.attempts - 1, 0)
                log.warning("message.released", message_pk=message_pk)


def database_unavailable(exc: Exception) -> bool:
    """True when the database itself failed: connection lost, disk full, out of resources."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    sqlite_code = getattr(exc.orig, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int):
        return (sqlite_code & 0xFF) in _SQLITE_UNAVAILABLE  # extended codes keep the primary low
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate.startswith(_SQLSTATES_UNAVAILABLE)


def _give_up(row: InboundMessage, error: str) -> None:
    row.status = MessageStatus.NEEDS_ATTENTION
    row.needs_person = True
    row.attention_reason = f"could not be processed after {row.attempts} attempts: {error}"
    log.error("message.needs_attention", attempts=row.attempts)
