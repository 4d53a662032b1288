"""The loop: wait (IDLE or poll) -> store new mail -> process pending -> send the outbox.

Only this module loops. SIGTERM/SIGINT set a stop event; the message in hand finishes, the
outbox step in progress is flushed, IDLE is left and the process exits 0.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from types import FrameType
from typing import Final

import structlog

from foi_mailbot.bootstrap import App
from foi_mailbot.errors import FoiMailbotError, TransientError
from foi_mailbot.ingest import store_many
from foi_mailbot.memory import return_large_blocks
from foi_mailbot.sources import MailSource, RawMail
from foi_mailbot.storage.state import record

log = structlog.get_logger(__name__)

ERROR_BACKOFF_FIRST_SECONDS: Final = 1.0
PENDING_BATCH: Final = 500
STORE_BATCH: Final = 50
STORE_BATCH_BYTES: Final = 8 * 2**20  # a batch in hand is part of the daemon's peak memory
SEND_EVERY: Final = 5
"""Groups of a backlog applied between two sends of the outbox: replies go out as it goes."""


@dataclass
class _Sync:
    """A cycle's fetching and storing, advanced a batch at a time between other work."""

    steps: Generator[list[int], None, None]
    finished: Callable[[TransientError | None], None]
    done: bool = False
    stored: int = 0

    def step(self) -> list[int]:
        """Fetch and store the next batch, if any; returns the new messages' ids. A mailbox
        failure ends this cycle's sync."""
        if self.done:
            return []
        try:
            created = next(self.steps)
        except StopIteration:
            self._finish(None)
            return []
        except TransientError as exc:
            self._finish(exc)
            return []
        self.stored += len(created)
        return created

    def close(self) -> None:
        """Leave the rest for the next cycle (a stop): every batch yielded was already stored."""
        if not self.done:
            self.steps.close()
            self.done = True

    def _finish(self, error: TransientError | None) -> None:
        self.done = True
        self.finished(error)


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

    def __post_init__(self) -> None:
        # A long-running process that holds messages of megabytes, one after another.
        return_large_blocks()

    def install_signal_handlers(self) -> None:
        """Make SIGTERM and SIGINT ask the loop to finish and exit."""

        def handler(signum: int, _frame: FrameType | None) -> None:
            log.info("daemon.stopping", signal=signal.Signals(signum).name)
            self.stop.set()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def _syncing(self) -> Generator[list[int], None, None]:
        """Fetch and store new mail a batch at a time, marking each message done at the source
        after it committed; yields the ids of each batch's new messages.

        Messages are committed in small batches (one fsync for up to `STORE_BATCH` of them):
        a backlog is stored several times faster, and nothing is marked done before its commit.
        """
        stored = 0
        batch: list[RawMail] = []
        size = 0
        for mail in self.source.fetch_new():
            if batch and batch[-1].folder != mail.folder:
                stored += len(batch)
                yield self._store(batch)
                batch, size = [], 0
            batch.append(mail)
            size += len(mail.raw)
            if len(batch) >= STORE_BATCH or size >= STORE_BATCH_BYTES or self.stop.is_set():
                stored += len(batch)
                yield self._store(batch)
                batch, size = [], 0
            if self.stop.is_set():
                break
        created = self._store(batch)
        record(self.app.factory, self.app.clock, "last_sync",
               {"at": self.app.clock.now().isoformat(), "stored": stored + len(batch)})
        yield created

    def _store(self, batch: list[RawMail]) -> list[int]:
        """Store a batch in one durable commit, then mark it done; returns the new messages."""
        results = store_many(self.app.factory, batch, self.app.clock)
        created: list[int] = []
        for mail, result in zip(batch, results, strict=True):
            if result.created:
                self.app.pipeline.note_stored(result.message_pk)
                created.append(result.message_pk)
            self.source.mark_done(mail)
            log.info("message.stored", source_key=mail.source_key,
                     message_pk=result.message_pk, new=result.created)
        return created

    def run_once(self) -> None:
        """One cycle: sync, process, send. Errors are logged; the loop goes on."""
        with self.app.mail_lock:
            self._cycle()

    def _cycle(self) -> None:
        # Storing a backlog is interleaved with processing it, a batch after each group of
        # messages applied, whose new messages join the ones being processed: one stream, so
        # the parsing worker reads ahead while the next batch is stored.
        sync = _Sync(self._syncing(), self._synced)
        sync.step()
        groups = 0

        def more() -> list[int]:
            nonlocal groups
            if self.stop.is_set():
                return []
            groups += 1
            if groups % SEND_EVERY == 0:
                # A long backlog's first replies need not wait for its last message; and the
                # parsing worker reads ahead meanwhile.
                self.app.outbox.drain(stop=self.stop.is_set)
            return sync.step()

        first = True
        while not self.stop.is_set():
            sync.stored = 0
            # A message that failed a try is tried once a cycle, in its first pass.
            looked = self.app.pipeline.run_pending(
                PENDING_BATCH, stop=self.stop.is_set, between=more, untried=not first)
            first = False
            # Mail stored after the pass's last message (at its final commit) waits for the
            # next pass; so does mail stored by `sync.step()` below.
            if looked < PENDING_BATCH and not sync.stored:
                if sync.done:
                    break
                sync.step()  # nothing left to process: store the next batch
        sync.close()
        self.app.outbox.drain(stop=self.stop.is_set)

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
