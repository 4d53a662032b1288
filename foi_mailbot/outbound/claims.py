"""Outbox rows claimed for sending, and the changes made to them afterwards.

A row is claimed by a conditional UPDATE to `sending` (two senders never claim one row); what
happened to it is then a `RowChange`, made only while the row is still `sending`, so writing a
change twice (a commit reported as failed that had in fact committed) is harmless.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, defer

from foi_mailbot.storage.models import OutboxMessage, OutboxStatus

RowChange = Callable[[OutboxMessage], None]
"""What happened to a claimed row, as a change to make to it."""


@dataclass(frozen=True)
class Claimed:
    """A row claimed for sending, with what the send needs."""

    id: int
    key: str
    raw: bytes


def release(row: OutboxMessage) -> None:
    """Nothing was sent: the row is due again, and the claim's attempt is not counted."""
    row.status = OutboxStatus.PENDING
    row.attempts = max(0, row.attempts - 1)


def sent(sent_at: datetime, *, copied: bool) -> RowChange:
    """The row was accepted at `sent_at` (and copied to the Sent folder, if `copied`)."""

    def change(row: OutboxMessage) -> None:
        row.status, row.sent_at = OutboxStatus.SENT, sent_at
        row.copied_to_sent = row.copied_to_sent or copied

    return change


def apply_changes(
    session: Session, changes: dict[int, RowChange], copied: Collection[int] = ()
) -> None:
    """Make each change to its row if the row is still `sending`; note the `copied` rows'
    copies in the Sent folder, whatever their state."""
    if changes:
        rows = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.id.in_(list(changes)))
            .options(defer(OutboxMessage.raw))
        )
        for row in rows:
            if row.status == OutboxStatus.SENDING:
                changes[row.id](row)
    if copied:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(list(copied)))
            .values(copied_to_sent=True)
        )


def claim(session: Session, now: datetime, limit: int) -> list[Claimed]:
    """Claim up to `limit` due rows, oldest first; returns those this session claimed."""
    candidates = session.scalars(
        select(OutboxMessage.id)
        .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.id)
        .limit(limit)
    ).all()
    if not candidates:
        return []
    # Conditional on `pending` still: a row another sender claimed in between is not returned.
    rows = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(candidates), OutboxMessage.status == OutboxStatus.PENDING)
        .values(status=OutboxStatus.SENDING, attempts=OutboxMessage.attempts + 1)
        .returning(OutboxMessage.id, OutboxMessage.key, OutboxMessage.raw),
        execution_options={"synchronize_session": False},
    ).all()
    return sorted((Claimed(row_id, key, raw) for row_id, key, raw in rows), key=lambda c: c.id)
