"""Copies of sent mail filed in the Sent folder by a thread of its own.

Filing a batch of copies is a round trip to the mail server (about 8 ms for 20 replies) in
which the sender would only wait; this thread makes it while the sender claims and sends the
next batch, or while the loop applies the next messages of a backlog. A copy the thread has
not filed when the process dies is made at the next start (`Outbox.copy_missing`).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

import structlog

log = structlog.get_logger(__name__)

T = TypeVar("T")


class SentCopier(Generic[T]):
    """Runs `file` on each batch put to it, in order, in a thread started on first use."""

    def __init__(self, file: Callable[[list[T]], object]) -> None:
        self._file = file
        self._queue: queue.Queue[list[T] | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def put(self, items: list[T]) -> None:
        """File these copies soon."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sent-copies", daemon=True)
            self._thread.start()
        self._queue.put(items)

    def wait(self) -> None:
        """Return when every batch put so far has been filed (or has failed)."""
        if self._thread is not None:
            self._queue.join()

    def close(self) -> None:
        """File what is queued, then stop the thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=60)
            self._thread = None

    def _run(self) -> None:
        while True:
            items = self._queue.get()
            try:
                if items is None:
                    return
                self._file(items)
            except Exception as exc:  # noqa: BLE001 - a copy left out is made at the next start
                log.warning("outbox.copy_to_sent_failed", error_type=type(exc).__name__)
            finally:
                self._queue.task_done()
