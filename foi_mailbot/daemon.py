"""The loop: wait (IDLE or poll) -> store new mail -> process pending -> send the outbox.

Only this module loops. SIGTERM/SIGINT set a stop event; the message in hand finishes, the
outbox step in progress is flushed, IDLE is left and the process exits 0.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Final

import structlog

from foi_mailbot.bootstrap import App
from foi_mailbot.errors import FoiMailbotError, TransientError
from foi_mailbot.ingest import store_many
from foi_mailbot.sources import MailSource, RawMail
from foi_mailbot.storage.state import record

log = structlog.get_logger(__name__)

ERROR_BACKOFF_FIRST_SECONDS: Final = 1.0
STORE_BATCH: Final = 50
STORE_BATCH_BYTES: Final = 8 * 2**20  # a batch in hand is part of the daemon's peak memory


@dataclass
class Daemon:
    """Runs the mail loop for one App until `stop` is set."""

    app: App
    source: MailSource
    stop: threading.Event = field(default_factory=threading.Event)
    wait_seconds: float = 60.0
    errors: int = 0
    on_sync: Callable[[str | None], None] | None = None
    leadership_lost: Callable[[], bool] | None = None

    def install_signal_handlers(self) -> None:
        """Make SIGTERM and SIGINT ask the loop to finish and exit."""

        def handler(signum: int, _frame: FrameType | None) -> None:
            log.info("daemon.stopping", signal=signal.Signals(signum).name)
            self.stop.set()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def run_once(self) -> None:
        """One cycle: store new mail, process what is pending, send what is due."""
        with self.app.mail_lock:
            started = time.perf_counter()
            stored = self.sync()
            synced = time.perf_counter()
            processed = self.app.pipeline.run_pending(stop=self.stop.is_set)
            ran = time.perf_counter()
            self.app.outbox.drain(stop=self.stop.is_set)
        if stored or processed:  # an idle wake-up is not worth a line
            log.info("cycle.done", stored=stored, processed=processed,
                     store_seconds=round(synced - started, 4),
                     process_seconds=round(ran - synced, 4),
                     send_seconds=round(time.perf_counter() - ran, 4))

    def sync(self) -> int:
        """Fetch new mail and store it a batch at a time; returns how many were stored.

        A batch (up to `STORE_BATCH` messages or `STORE_BATCH_BYTES`, one folder) is one
        durable commit, and only then marked done at the source. A mailbox failure ends the
        sync (what was stored stays stored); a database failure ends the cycle.
        """
        stored, error = 0, None
        batch: list[RawMail] = []
        try:
            for mail in self.source.fetch_new():
                if batch and _full(batch, mail):
                    stored += self._store(batch)
                    batch = []
                batch.append(mail)
                if self.stop.is_set():
                    break
        except TransientError as exc:
            error = exc
        stored += self._store(batch)
        if error is None:
            record(self.app.factory, self.app.clock, "last_sync",
                   {"at": self.app.clock.now().isoformat(), "stored": stored})
        self._synced(error)
        return stored

    def _store(self, batch: list[RawMail]) -> int:
        """Store a batch in one durable commit, then mark it done; returns how many."""
        results = store_many(self.app.factory, batch, self.app.clock)
        for mail, result in zip(batch, results, strict=True):
            self.source.mark_done(mail)
            log.info("message.stored", source_key=mail.source_key,
                     message_pk=result.message_pk, new=result.created)
        return len(batch)

    def _synced(self, error: TransientError | None) -> None:
        if error is not None:
            self.errors += 1
            log.warning("mailbox.sync_failed", error=str(error))
        if self.on_sync:
            self.on_sync(str(error) if error is not None else None)

    def run_until_idle(self, max_cycles: int = 20) -> None:
        """Cycle until nothing new arrives and nothing is pending (for tests and `once`)."""
        for _ in range(max_cycles):
            self.run_once()
            if not self.app.pipeline.pending(1):
                return

    def run(self) -> None:
        """Loop until stopped."""
        with self.app.mail_lock:  # the scheduler's outbox sweep waits for it
            self.app.outbox.recover()
        log.info("daemon.started", source=self.source.name)
        failures = 0
        while not self.stop.is_set():
            if self.leadership_lost is not None and self.leadership_lost():
                log.error("daemon.leadership_lost")
                break
            try:
                self.run_once()
            except Exception as exc:  # noqa: BLE001 - e.g. the database gone mid-cycle
                failures += 1
                self._cycle_failed(exc, failures)
                continue
            failures = 0
            if self.stop.is_set():
                break
            try:
                self.source.wait(self.wait_seconds, self.stop)
            except TransientError as exc:
                log.warning("mailbox.wait_failed", error=str(exc))
                self.stop.wait(1.0)
        self.source.close()
        log.info("daemon.stopped")

    def _cycle_failed(self, exc: Exception, failures: int) -> None:
        """Log a failed cycle and back off, so a lasting fault is retried, not spun on.

        Whatever the cycle had committed stays committed; mail not yet stored stays on the
        server and is fetched again.
        """
        self.errors += 1
        delay = min(self.wait_seconds, ERROR_BACKOFF_FIRST_SECONDS * 2 ** (failures - 1))
        # Library errors may quote SQL parameters (applicant text): only the class is logged.
        error = str(exc) if isinstance(exc, FoiMailbotError) else exc.__class__.__name__
        log.error("daemon.cycle_failed", error=error, failures=failures,
                  retry_in_seconds=round(delay, 1))
        self.stop.wait(delay)


def _full(batch: list[RawMail], mail: RawMail) -> bool:
    """True when `mail` starts a new batch: this one is full, or `mail` is of another folder."""
    size = sum(len(held.raw) for held in batch)
    return (len(batch) >= STORE_BATCH or size >= STORE_BATCH_BYTES
            or batch[-1].folder != mail.folder)
