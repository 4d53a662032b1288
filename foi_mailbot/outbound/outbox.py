"""The outbox, sending: rows queued by `enqueueing` are claimed, sent and settled here.

A row is unique on its `key` (case and purpose), and its Message-ID is minted at enqueue, so a
crash anywhere never produces a second copy: a row left in `sending` is settled by the sent
journal when it shows the row accepted or never tried, else checked against the mailbox's Sent
folder before any resend, and flagged for a person when that cannot tell. When
only the database connection drops, the process still knows what happened to the rows it
claimed, and writes that down before it claims any more.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from foi_mailbot.clock import Clock, as_utc
from foi_mailbot.errors import PermanentError, TransientError
from foi_mailbot.outbound import claims
from foi_mailbot.outbound.claims import Claimed, RowChange
from foi_mailbot.outbound.compose import could_be_minted
from foi_mailbot.outbound.enqueueing import RetryPolicy
from foi_mailbot.outbound.journal import JournalView, SentJournal
from foi_mailbot.outbound.sent_copies import SentCopier
from foi_mailbot.outbound.transport import Transport
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import OutboxMessage, OutboxStatus

log = structlog.get_logger(__name__)


COPY_BATCH = 20
"""Sent messages filed in the Sent folder together (one IMAP command, one index update)."""
CLAIM_BATCH = 20
"""Rows claimed in one durable commit. The journal tells which of them a crash left unsent."""

SentChecker = Callable[[str], bool | None]
"""Given a Message-ID, True/False if the Sent folder shows it was (not) sent, None if unknown."""

@dataclass
class Outbox:
    """Sends due rows through a transport: the daemon, the scheduler and the CLI call `drain`;
    `send_due` sends one claim's worth (tests step through retries with it)."""

    factory: sessionmaker[Session]
    transport: Transport
    clock: Clock
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sent_checker: SentChecker | None = None
    # Files copies of sent messages in the Sent folder, several at a time (one IMAP MULTIAPPEND).
    copy_to_sent: Callable[[Sequence[bytes]], None] | None = None
    on_failure: Callable[[str], None] | None = None
    on_success: Callable[[], None] | None = None
    # For what happened after a send: on SQLite these commits skip the fsync (they survive a
    # kill, not a power cut). The claim before the send is fully durable.
    quick_factory: sessionmaker[Session] | None = None
    # Records each acceptance before the database does (see `journal`).
    journal: SentJournal | None = None
    # Rows this process claimed whose outcome could not be written (database gone), by id.
    _owed: dict[int, RowChange] = field(default_factory=dict, init=False, repr=False)
    _owed_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    # Rows whose Sent copy was filed and not yet recorded (written with the owed changes).
    _copied: set[int] = field(default_factory=set, init=False, repr=False)
    _copier: SentCopier[Claimed] | None = field(default=None, init=False, repr=False)

    def recover(self) -> int:
        """Settle rows a crash left in `sending`: sent if the journal or the Sent folder shows
        them (a provider that files what it relays, or our copy), due again if the journal
        shows no send of them began or the Sent folder does not have them, flagged when
        nothing can tell. Then make the Sent copies a crash left out.

        Run it before anything else sends: it clears the journal when it is done.
        """
        settled = 0
        journal = self.journal.read() if self.journal else JournalView()
        with session_scope(self.factory) as session:
            stuck = session.scalars(
                select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.SENDING)
            ).all()
            for row in stuck:
                if row.id in journal.accepted:
                    row.status, row.sent_at = OutboxStatus.SENT, self.clock.now()
                elif journal.never_tried(row.id):
                    claims.release(row)
                else:
                    self._settle_in_doubt(row)
                log.warning("outbox.recovered", outbox_id=row.id, status=row.status)
                settled += 1
        if self.journal:
            self.journal.clear()
        self.copy_missing()
        return settled

    def _settle_in_doubt(self, row: OutboxMessage) -> None:
        """A row whose send may have begun: the Sent folder decides, else a person does."""
        verdict = self.sent_checker(row.message_id) if self.sent_checker else None
        if verdict is True:
            row.status, row.sent_at = OutboxStatus.SENT, self.clock.now()
        elif verdict is False:
            row.status = OutboxStatus.PENDING
        else:
            row.status = OutboxStatus.NEEDS_ATTENTION
            row.last_error = "interrupted while sending; could not tell whether it went out"

    def _claim(self, limit: int) -> list[Claimed]:
        """Write what is owed, then mark due rows `sending`, in one durable commit.

        The UPDATE is conditional, so two senders never claim one row. The outcomes owed are
        mostly the marks of rows just sent (see `_send_one`): they ride on this commit.
        """
        owed, copied = self._take_owed()
        now = self.clock.now()
        try:
            with session_scope(self.factory) as session:
                claims.apply_changes(session, owed, copied)
                claimed = claims.claim(session, now, limit)
                if claimed and self.journal is not None:
                    # Before the commit: a kill just after it finds them claimed here.
                    self.journal.claimed(item.id for item in claimed)
                return claimed
        except SQLAlchemyError:
            self._give_back(owed, copied)
            raise

    def send_due(self, limit: int = CLAIM_BATCH, stop: Callable[[], bool] | None = None) -> int:
        """Send the rows that are due, up to `limit`; returns how many the transport accepted."""
        accepted = self._send_claimed(self._claim(limit), stop)
        self._copy(accepted)
        self._settle()
        return len(accepted)

    def drain(
        self,
        stop: Callable[[], bool] | None = None,
        batch: int = CLAIM_BATCH,
        *,
        background: bool = False,
    ) -> int:
        """Send due rows until none is due (or `stop`); returns how many went.

        Sent copies are filed by a thread of their own while the next rows are sent; with
        `background` the last of them may still be on their way when this returns (the next
        drain without it, or `close`, waits for them).
        """
        sent = 0
        accepted: list[Claimed] = []
        while claimed := self._claim(batch):
            accepted += self._send_claimed(claimed, stop)
            if len(accepted) >= COPY_BATCH:
                sent += len(accepted)
                self._copy_soon(accepted)
                accepted = []
            if stop is not None and stop():
                break
        sent += len(accepted)
        self._copy_soon(accepted)
        if not background:
            self.wait_for_copies()
        self._settle()
        return sent

    def _copy_soon(self, items: list[Claimed]) -> None:
        if self.copy_to_sent is None or not items:
            return
        if self._copier is None:
            self._copier = SentCopier(self._copy)
        self._copier.put(items)

    def wait_for_copies(self) -> None:
        """Return once every Sent copy handed to the copying thread is filed (or failed)."""
        if self._copier is not None:
            self._copier.wait()

    def _send_claimed(
        self, claimed: list[Claimed], stop: Callable[[], bool] | None
    ) -> list[Claimed]:
        """Send claimed rows in order; on `stop`, the rest are released untried."""
        accepted: list[Claimed] = []
        for index, item in enumerate(claimed):
            if self._send_one(item):
                accepted.append(item)
            if stop is not None and stop():
                for untried in claimed[index + 1 :]:
                    self._defer(untried.id, claims.release)
                break
        return accepted

    def _send_one(self, item: Claimed) -> bool:
        row_id = item.id
        accepted: list[datetime] = []

        def mark_sent() -> None:
            # The moment the server accepted. With a journal, one write there (no lock to wait
            # for) and the row is marked with the next claim's commit, or by `recover` after a
            # crash; without one, the row is marked now.
            if self.journal is None:
                self._write(row_id, claims.sent(self.clock.now(), copied=False))
                return
            self.journal.record(row_id)
            accepted.append(self.clock.now())

        if self.journal is not None:
            self.journal.tried(row_id)  # from here on, a crash leaves the row in doubt
        try:
            self.transport.send(item.raw, on_accepted=mark_sent)
        except TransientError as exc:
            self._failed(row_id, str(exc), permanent=False)
            return False
        except PermanentError as exc:
            self._failed(row_id, str(exc), permanent=True)
            return False
        log.info("outbox.sent", outbox_id=row_id, key=item.key)
        if self.on_success:
            self.on_success()
        if accepted:
            self._defer(row_id, claims.sent(accepted[0], copied=False))
        return True

    def close(self) -> None:
        """File the Sent copies still queued, then release the journal file."""
        if self._copier is not None:
            self._copier.close()
            self._copier = None
            self._settle_quietly()
        if self.journal:
            self.journal.close()

    def _settle_quietly(self) -> None:
        # Copies filed at the last moment are recorded if the database is there; if it is
        # not, the next start files them again (a second copy in Sent, nothing sent twice).
        with contextlib.suppress(SQLAlchemyError):
            self._settle()

    def copy_missing(self, since: timedelta = timedelta(days=1)) -> int:
        """Put Sent copies a crash left out (of mail sent recently) into the Sent folder."""
        if self.copy_to_sent is None:
            return 0
        cutoff = self.clock.now() - since
        with session_scope(self.factory) as session:
            rows = session.execute(
                select(OutboxMessage.id, OutboxMessage.key, OutboxMessage.raw).where(
                    OutboxMessage.status == OutboxStatus.SENT,
                    OutboxMessage.copied_to_sent.is_(False),
                    OutboxMessage.sent_at >= cutoff,
                )
            ).all()
        missing = [Claimed(row_id, key, raw) for row_id, key, raw in rows]
        copied = 0
        for start in range(0, len(missing), COPY_BATCH):
            batch = missing[start : start + COPY_BATCH]
            copied += len(batch) if self._copy(batch) else 0
        self._settle()
        return copied

    def _copy(self, items: list[Claimed]) -> bool:
        """File copies of these sent rows in the Sent folder; False if that failed."""
        if self.copy_to_sent is None or not items:
            return False
        for attempt in (1, 2):
            try:
                self.copy_to_sent([item.raw for item in items])
            except TransientError as exc:
                # A kept connection the server dropped fails once; the second try reconnects.
                if attempt == 2:
                    log.warning("outbox.copy_to_sent_failed", outbox_ids=[i.id for i in items],
                                error=str(exc))
            else:
                with self._owed_lock:
                    self._copied.update(item.id for item in items)
                return True
        return False

    def _failed(self, row_id: int, error: str, *, permanent: bool) -> None:
        now = self.clock.now()

        def record_failure(row: OutboxMessage) -> None:
            row.last_error = error[:2000]
            if permanent or now >= as_utc(row.retry_until):
                row.status = OutboxStatus.NEEDS_ATTENTION
                log.error("outbox.failed", outbox_id=row_id, permanent=permanent, error=error)
            else:
                row.status = OutboxStatus.PENDING
                row.next_attempt_at = now + self.retry.delay(row.attempts)
                # Debug only: the outage itself is logged once, by the alerter.
                log.debug("outbox.retry_later", outbox_id=row_id, attempts=row.attempts)

        self._write(row_id, record_failure)
        if self.on_failure and not permanent:
            self.on_failure(error)

    def _write(self, row_id: int, change: RowChange) -> None:
        """Apply `change` to a row this process claimed; if that fails, owe it and re-raise."""
        try:
            with session_scope(self.quick_factory or self.factory) as session:
                row = session.get(OutboxMessage, row_id)
                # Not `sending` any more: a write reported as failed had in fact committed.
                if row is not None and row.status == OutboxStatus.SENDING:
                    change(row)
        except SQLAlchemyError:
            self._owe(row_id, change)
            raise

    def _owe(self, row_id: int, change: RowChange) -> None:
        # Until this is written the row stays `sending`: no sender claims it, so none resends it.
        with self._owed_lock:
            first = row_id not in self._owed
            self._owed[row_id] = change
        if first:
            log.warning("outbox.outcome_not_recorded", outbox_id=row_id)

    def _defer(self, row_id: int, change: RowChange) -> None:
        """Owe a change on purpose: it is written with the next claim (or `_settle`)."""
        with self._owed_lock:
            self._owed[row_id] = change

    def _take_owed(self) -> tuple[dict[int, RowChange], set[int]]:
        with self._owed_lock:
            owed, self._owed = self._owed, {}
            copied, self._copied = self._copied, set()
        return owed, copied

    def _give_back(self, owed: dict[int, RowChange], copied: set[int]) -> None:
        with self._owed_lock:
            for row_id, change in owed.items():
                self._owed.setdefault(row_id, change)
            self._copied |= copied

    def _settle(self) -> None:
        """Write the outcomes owed, in one commit; raises while the database is gone."""
        owed, copied = self._take_owed()
        if not owed and not copied:
            return
        try:
            with session_scope(self.quick_factory or self.factory) as session:
                claims.apply_changes(session, owed, copied)
        except SQLAlchemyError:
            self._give_back(owed, copied)
            raise

    def own_message_ids(self, message_ids: Collection[str]) -> set[str]:
        """Those of the Message-IDs that we minted for mail in the outbox."""
        wanted = [message_id for message_id in message_ids if could_be_minted(message_id)]
        if not wanted:
            return set()  # staff mail in Sent: none could be ours, nothing to ask
        with session_scope(self.factory) as session:
            stmt = select(OutboxMessage.message_id).where(OutboxMessage.message_id.in_(wanted))
            return set(session.scalars(stmt))

    def backlog(self) -> int:
        """Rows not yet sent and not given up on."""
        with session_scope(self.factory) as session:
            stmt = select(func.count(OutboxMessage.id)).where(
                OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING])
            )
            return int(session.scalar(stmt) or 0)
