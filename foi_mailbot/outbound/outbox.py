"""The outbox: a message to send is queued in the transaction that decided it, then sent once.

A row is unique on its `key` (case and purpose) and its Message-ID is minted before it is
queued, so deciding a message twice never queues a second reply. `Outbox.drain` sends the rows:

1. recover: rows an earlier drain on this machine left `sending` (the process was killed, or
   the database went away before their outcome was written) are settled by the sent journal,
   where it tells what became of them;
2. claim up to `CLAIM_BATCH` due rows in one durable commit (`sending`, `attempts + 1`);
3. for each row: journal `tried` -> hand its stored bytes to the transport -> journal
   `accepted` (or `failed`, `refused`);
4. write what became of each row (sent; due again later; for a person) in one commit;
5. file the copies of those that went in the Sent folder (one IMAP MULTIAPPEND), and note it;

and again from 2 until nothing is due; then the journal is cleared. A kill or an outage
anywhere leaves rows `sending`, which no sender claims, and the journal not cleared: step 1 of
the next drain settles them. At start, `recover` settles the rows in doubt too (a send that
began and whose end nobody saw, or a row the journal does not know of): sent if the Sent folder
has them, due again if it does not, and for a person when nothing can tell. Nothing is sent
twice on a guess."""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import Message
from typing import Protocol

import structlog
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from foi_mailbot.clock import Clock, as_utc
from foi_mailbot.errors import PermanentError, TransientError
from foi_mailbot.outbound.compose import could_be_minted, wire_bytes
from foi_mailbot.outbound.journal import Said, SentJournal
from foi_mailbot.outbound.transport import Transport
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import Case, OutboxMessage, OutboxStatus

log = structlog.get_logger(__name__)

CLAIM_BATCH = 20
"""Rows claimed in one durable commit, and their Sent copies filed in one IMAP command."""


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


class SentFolder(Protocol):
    """The mailbox's Sent folder, as the outbox uses it."""

    def has_message_id(self, message_id: str) -> bool | None:
        """True/False if the folder does (not) hold this Message-ID; None if it cannot tell."""
        ...

    def file_copies(self, raws: Sequence[bytes]) -> None:
        """File copies of these sent messages (raises `TransientError` if it could not)."""
        ...


class Alerts(Protocol):
    """Told how sending went, to tell a person when the mail server has been failing a while."""

    def failure(self, component: str, error: str) -> None:
        """A temporary failure of `component`."""
        ...

    def success(self, component: str) -> None:
        """`component` worked."""
        ...


# -- queueing -----------------------------------------------------------------------------

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

    `message_id` must be minted (`mint_message_id`): our own mail coming back is known by it.
    """
    if not could_be_minted(message_id):
        msg = f"{message_id!r} is not a Message-ID minted by mint_message_id"
        raise ValueError(msg)
    if _may_be_taken(key, case) and session.execute(_KEY_TAKEN, {"key": key}).first() is not None:
        return None
    row = OutboxMessage(
        key=key, case=case, purpose=purpose, message_id=message_id, to_email=to_email.lower(),
        automatic=automatic, raw=wire_bytes(message), status=OutboxStatus.PENDING, attempts=0,
        next_attempt_at=now, retry_until=now + (retry or RetryPolicy()).give_up_after,
        created_at=now, caused_by=caused_by,
    )
    session.add(row)
    return row


def _may_be_taken(key: str, case: Case | None) -> bool:
    """False for a key naming a case not yet written: opened in this transaction under a
    reference new to the register, so no letter has its key yet (and looking would write the
    case first)."""
    return case is None or case.id is not None or case.reference not in key


def automatic_replies_since(session: Session, to_email: str, since: datetime) -> int:
    """How many automatic messages we queued for an address since an instant."""
    to_email = to_email.lower()
    found = session.execute(_AUTOMATIC_SINCE, {"to_email": to_email, "since": since})
    return int(found.scalar() or 0)


def own_message_ids(factory: sessionmaker[Session], message_ids: Collection[str]) -> set[str]:
    """Those of the Message-IDs that we minted for mail in the outbox."""
    wanted = [message_id for message_id in message_ids if could_be_minted(message_id)]
    if not wanted:
        return set()  # staff mail in Sent: none could be ours, nothing to ask
    with session_scope(factory) as session:
        stmt = select(OutboxMessage.message_id).where(OutboxMessage.message_id.in_(wanted))
        return set(session.scalars(stmt))


# -- sending ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    """A row claimed for sending, with what the send needs."""

    id: int
    key: str
    raw: bytes


@dataclass(frozen=True)
class Outcome:
    """What became of a claimed row, in the journal's words (None: nothing can tell)."""

    said: Said | None
    at: datetime
    error: str = ""


UNRECORDED = "the mail server did not take it; the reason was not recorded"


@dataclass
class Outbox:
    """Sends due rows through a transport; the daemon, the scheduler and the CLI call `drain`."""

    factory: sessionmaker[Session]
    transport: Transport
    clock: Clock
    journal: SentJournal
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sent_folder: SentFolder | None = None
    # False where the mail provider files what it relays in Sent itself (a copy would double it).
    file_copies: bool = True
    alerts: Alerts | None = None

    def drain(self, stop: Callable[[], bool] | None = None) -> int:
        """Send due rows until none is due (or `stop`); returns how many went."""
        sent = 0
        with self.journal.held():
            self._recover(every_row=False)
            while claimed := self._claim(CLAIM_BATCH):
                sent += self._send_batch(claimed, stop)
                if stop is not None and stop():
                    break
            self.journal.clear()  # every row it speaks of is settled
        return sent

    def send_due(self, limit: int = CLAIM_BATCH, stop: Callable[[], bool] | None = None) -> int:
        """Send one claim's worth of due rows (tests step through retries with it)."""
        with self.journal.held():
            self._recover(every_row=False)
            claimed = self._claim(limit)
            sent = self._send_batch(claimed, stop) if claimed else 0
            self.journal.clear()
        return sent

    def recover(self) -> int:
        """At start: settle every row left `sending`, then file the Sent copies a crash left out.

        Rows of this machine's journal are settled by what it says; any other (sent from
        elsewhere, or a journal lost with a reboot) is sent if the Sent folder has it, due
        again if not, and flagged for a person when nothing can tell. Run it before anything
        else sends, as the one active instance: a row another process is sending right now
        would look left in doubt. Returns how many rows were settled.
        """
        with self.journal.held():
            settled = self._recover(every_row=True)
        self.copy_missing()
        return settled

    def _recover(self, *, every_row: bool) -> int:
        """Settle the rows left `sending` whose fate the journal tells; with `every_row`, the
        others too (in doubt: see `recover`)."""
        journal = self.journal.read()
        if not journal.last and not every_row:
            return 0  # the last drain ended cleanly, and cleared it
        settled = 0
        with session_scope(self.factory) as session:
            stuck = session.scalars(
                select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.SENDING)
            ).all()
            for row in stuck:
                if every_row or journal.says(row.id) is not None:
                    self._apply(row, Outcome(journal.says(row.id), self.clock.now(), UNRECORDED))
                    log.warning("outbox.recovered", outbox_id=row.id, status=row.status)
                    settled += 1
        self.journal.clear()
        return settled

    def _claim(self, limit: int) -> list[Claimed]:
        """Mark up to `limit` due rows `sending`, oldest first, in one durable commit.

        The UPDATE is conditional on `pending`, so two senders never claim one row.
        """
        now = self.clock.now()
        with session_scope(self.factory) as session:
            due = session.scalars(
                select(OutboxMessage.id)
                .where(OutboxMessage.status == OutboxStatus.PENDING,
                       OutboxMessage.next_attempt_at <= now)
                .order_by(OutboxMessage.id)
                .limit(limit)
            ).all()
            if not due:
                return []
            rows = session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(due), OutboxMessage.status == OutboxStatus.PENDING)
                .values(status=OutboxStatus.SENDING, attempts=OutboxMessage.attempts + 1)
                .returning(OutboxMessage.id, OutboxMessage.key, OutboxMessage.raw),
                execution_options={"synchronize_session": False},
            ).all()
            claimed = sorted((Claimed(*row) for row in rows), key=lambda c: c.id)
            if claimed:
                self.journal.claimed(item.id for item in claimed)  # before the commit
            return claimed

    def _send_batch(self, claimed: list[Claimed], stop: Callable[[], bool] | None) -> int:
        """Send claimed rows in order, write what became of each in one commit, then file the
        Sent copies of those that went. On `stop`, the rows not yet tried are released
        uncounted."""
        outcomes: dict[int, Outcome] = {}
        for index, item in enumerate(claimed):
            outcomes[item.id] = self._send_one(item)
            if stop is not None and stop():
                for untried in claimed[index + 1 :]:
                    outcomes[untried.id] = Outcome(Said.CLAIMED, self.clock.now())
                break
        with session_scope(self.factory) as session:
            rows = session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(outcomes)))
            for row in rows:
                self._apply(row, outcomes[row.id])
        sent = [item for item in claimed if outcomes[item.id].said is Said.ACCEPTED]
        self._file(sent)
        self._report(outcomes.values())
        return len(sent)

    def _send_one(self, item: Claimed) -> Outcome:
        """Hand one row's stored bytes to the transport, journalling before and after."""
        accepted: list[datetime] = []

        def on_accepted() -> None:
            # The moment the server took it: from here on the row is sent, whatever follows.
            self.journal.record(item.id)
            accepted.append(self.clock.now())

        self.journal.tried(item.id)  # from here on, a crash leaves the row in doubt
        try:
            self.transport.send(item.raw, on_accepted=on_accepted)
        except (TransientError, PermanentError) as exc:
            if not accepted:
                permanent = isinstance(exc, PermanentError)
                self.journal.failed(item.id, permanent=permanent)
                return Outcome(Said.REFUSED if permanent else Said.FAILED, self.clock.now(),
                               str(exc))
        log.info("outbox.sent", outbox_id=item.id, key=item.key)
        return Outcome(Said.ACCEPTED, accepted[0] if accepted else self.clock.now())

    def _apply(self, row: OutboxMessage, outcome: Outcome) -> None:
        """Write an outcome on a row still `sending` (one already settled is left as it is)."""
        if row.status != OutboxStatus.SENDING:
            return
        if outcome.said is Said.ACCEPTED:
            row.status, row.sent_at = OutboxStatus.SENT, outcome.at
        elif outcome.said is Said.CLAIMED:
            # Nothing was sent: due again, and the claim's attempt is not counted.
            row.status, row.attempts = OutboxStatus.PENDING, max(0, row.attempts - 1)
        elif outcome.said in (Said.FAILED, Said.REFUSED):
            self._failed(row, outcome.error, permanent=outcome.said is Said.REFUSED)
        else:
            self._in_doubt(row)

    def _failed(self, row: OutboxMessage, error: str, *, permanent: bool) -> None:
        row.last_error = error[:2000]
        if permanent or self.clock.now() >= as_utc(row.retry_until):
            row.status = OutboxStatus.NEEDS_ATTENTION
            log.error("outbox.failed", outbox_id=row.id, permanent=permanent, error=error)
        else:
            row.status = OutboxStatus.PENDING
            row.next_attempt_at = self.clock.now() + self.retry.delay(row.attempts)
            # Debug only: the outage itself is logged once, by the alerts.
            log.debug("outbox.retry_later", outbox_id=row.id, attempts=row.attempts)

    def _in_doubt(self, row: OutboxMessage) -> None:
        """A row whose send may have begun: the Sent folder decides, else a person does."""
        verdict = self.sent_folder.has_message_id(row.message_id) if self.sent_folder else None
        if verdict is True:
            row.status, row.sent_at = OutboxStatus.SENT, self.clock.now()
        elif verdict is False:
            row.status = OutboxStatus.PENDING
        else:
            row.status = OutboxStatus.NEEDS_ATTENTION
            row.last_error = "interrupted while sending; could not tell whether it went out"

    def _report(self, outcomes: Collection[Outcome]) -> None:
        """Tell the alerts how the mail server did in this batch (a refusal says it works)."""
        if self.alerts is None:
            return
        failed = [outcome.error for outcome in outcomes if outcome.said is Said.FAILED]
        if failed:
            self.alerts.failure("smtp", failed[-1])
        elif any(outcome.said in (Said.ACCEPTED, Said.REFUSED) for outcome in outcomes):
            self.alerts.success("smtp")

    def _file(self, items: Sequence[Claimed]) -> int:
        """File copies of these sent rows in the Sent folder, and note it on them; returns
        how many were filed (none if that failed: they are filed again at the next start)."""
        folder = self.sent_folder
        if folder is None or not self.file_copies or not items:
            return 0
        raws = [item.raw for item in items]
        try:
            try:
                folder.file_copies(raws)
            except TransientError:
                folder.file_copies(raws)  # a kept connection the server dropped: reconnected
        except Exception as exc:  # noqa: BLE001 - the mail has gone; only its copy is missing
            log.warning("outbox.copy_to_sent_failed", error=str(exc)[:200],
                        outbox_ids=[item.id for item in items])
            return 0
        with session_scope(self.factory) as session:
            session.execute(update(OutboxMessage)
                            .where(OutboxMessage.id.in_([item.id for item in items]))
                            .values(copied_to_sent=True))
        return len(items)

    def copy_missing(self, since: timedelta = timedelta(days=1)) -> int:
        """File the Sent copies a crash or a failure left out (of mail sent recently)."""
        if self.sent_folder is None or not self.file_copies:
            return 0
        with session_scope(self.factory) as session:
            rows = session.execute(
                select(OutboxMessage.id, OutboxMessage.key, OutboxMessage.raw).where(
                    OutboxMessage.status == OutboxStatus.SENT,
                    OutboxMessage.copied_to_sent.is_(False),
                    OutboxMessage.sent_at >= self.clock.now() - since,
                )
            ).all()
        missing = [Claimed(*row) for row in rows]
        return sum(self._file(missing[start : start + CLAIM_BATCH])
                   for start in range(0, len(missing), CLAIM_BATCH))

    def backlog(self) -> int:
        """Rows not yet sent and not given up on."""
        with session_scope(self.factory) as session:
            stmt = select(func.count(OutboxMessage.id)).where(
                OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING])
            )
            return int(session.scalar(stmt) or 0)

    def close(self) -> None:
        """Release the journal file."""
        self.journal.close()
