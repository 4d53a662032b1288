"""The outbox, queueing: a message to send is added in the transaction that decided it.

A row is unique on its `key` (case and purpose) and its Message-ID is minted before it is
queued, so deciding a message twice never queues a second reply. `outbox` sends the rows.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import Message

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from foi_mailbot.outbound.compose import could_be_minted, wire_bytes
from foi_mailbot.storage.models import Case, OutboxMessage, OutboxStatus


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for temporary failures: doubling from `first`, capped, with jitter."""

    first: timedelta = timedelta(seconds=5)
    cap: timedelta = timedelta(minutes=30)
    give_up_after: timedelta = timedelta(hours=48)

    def delay(self, attempts: int) -> timedelta:
        """How long to wait after the n-th failed attempt."""
        doubled: timedelta = self.first * (2 ** max(0, attempts - 1))
        jitter: float = 0.8 + 0.4 * random.random()
        return min(self.cap, doubled) * jitter


# Built once: they are asked for every reply. Run through the session, so they see the rows
# this transaction queued already.
_KEY_TAKEN = select(OutboxMessage.id).where(OutboxMessage.key == bindparam("key"))
_AUTOMATIC_SINCE = select(func.count(OutboxMessage.id)).where(
    OutboxMessage.to_email == bindparam("to_email"),
    OutboxMessage.automatic.is_(True),
    OutboxMessage.created_at >= bindparam("since"),
)


def enqueue(
    session: Session,
    *,
    key: str,
    message: Message,
    message_id: str,
    to_email: str,
    purpose: str,
    now: datetime,
    case: Case | None = None,
    caused_by: int | None = None,
    automatic: bool = True,
    retry: RetryPolicy | None = None,
) -> OutboxMessage | None:
    """Add a message to the outbox unless one with this key exists (then None).

    The row is written at the session's next flush (a message's rows go in together).
    `message_id` must be minted (`mint_message_id`): our own mail coming back is known by it.
    """
    if not could_be_minted(message_id):
        msg = f"{message_id!r} is not a Message-ID minted by mint_message_id"
        raise ValueError(msg)
    if session.execute(_KEY_TAKEN, {"key": key}).first() is not None:
        return None
    policy_ = retry or RetryPolicy()
    row = OutboxMessage(
        key=key,
        case=case,
        purpose=purpose,
        message_id=message_id,
        to_email=to_email.lower(),
        automatic=automatic,
        raw=wire_bytes(message),
        status=OutboxStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
        retry_until=now + policy_.give_up_after,
        created_at=now,
        caused_by=caused_by,
    )
    session.add(row)
    return row


def automatic_replies_since(session: Session, to_email: str, since: datetime) -> int:
    """How many automatic messages we queued for an address since an instant."""
    to_email = to_email.lower()
    found = session.execute(_AUTOMATIC_SINCE, {"to_email": to_email, "since": since})
    return int(found.scalar() or 0)

