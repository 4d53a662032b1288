"""Pipeline helper: in a backlog, the next messages are parsed in a second process while the
current one is applied.

Parsing is pure and the costliest step for a message; applying is database work that one
process does. With a backlog the two overlap on two cores. A lone new message is parsed in
place: handing it over would only add latency.

The worker (`foi_mailbot.parsing.worker`) imports the parser alone, so it costs about 22 MB.
It is sent the next few messages and sends back their parsed form in order: on SQLite their
ids, and it reads the stored bytes from the database file itself (the daemon neither loads
nor copies them); on other databases, the raw bytes. It holds no state: if it dies (a message
that crashes the parser, the OOM killer) or stalls, the rest of the batch is parsed in place,
where the pipeline's attempt counting catches a message that keeps killing a process, and the
next backlog starts a new worker.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Final

import structlog

from foi_mailbot.parsing.parsed import ParsedMail
from foi_mailbot.parsing.worker import ID_FORMAT

log = structlog.get_logger(__name__)

MIN_BACKLOG: Final = 4
"""Fewer pending messages than this are parsed in place."""

_GONE: Final = (EOFError, OSError)

RawLoader = Callable[[int], bytes | None]
"""The stored raw bytes of a message, by primary key (None when there are none)."""


@dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    conn: Connection


@dataclass
class ParseAhead:
    """Yields pending messages with their parsed form, parsed ahead by a worker process."""

    window: int = 32
    """Messages sent ahead of the one in hand: enough to ride over a slow one."""
    window_bytes: int = 4 * 2**20
    """Raw bytes in flight at most (past the message in hand): a few large attachments."""
    timeout: float = 120.0
    """Seconds to wait for one result before giving up on the worker."""
    database: Path | None = None
    """The SQLite file the worker reads stored messages from; None: it is sent the bytes."""
    _worker: _Worker | None = field(default=None, init=False, repr=False)

    @staticmethod
    def wanted(backlog: int) -> bool:
        """True when `backlog` messages are worth a second process (on a multi-core machine)."""
        return backlog >= MIN_BACKLOG and (os.cpu_count() or 1) > 1

    def parsed(
        self, ids: Sequence[int], load: RawLoader
    ) -> Generator[tuple[int, ParsedMail | None], None, None]:
        """Each id in order with its parsed message, or None where it is to be parsed in place."""
        if self._worker is None:
            self._start()
        in_flight: deque[int | None] = deque()  # the size of each message sent (None: no raw)
        done = 0
        try:
            for index, message_pk in enumerate(ids):
                self._fill(ids[index + len(in_flight) : index + self.window + 1], load, in_flight)
                mail = self._receive() if self._worker is not None and in_flight else None
                if self._worker is None:
                    in_flight.clear()  # lost: the rest of the batch is parsed in place
                elif in_flight.popleft() is None:
                    mail = None
                yield message_pk, mail
                done += 1
        finally:
            if done < len(ids):
                self.close()  # its remaining results are for messages no longer in hand

    def _fill(self, ids: Sequence[int], load: RawLoader, in_flight: deque[int | None]) -> None:
        for message_pk in ids:
            if self.database is not None:
                # The worker reads the bytes when it comes to the message: none wait in flight.
                if not self._send(struct.pack(ID_FORMAT, message_pk)):
                    return
                in_flight.append(0)
                continue
            if in_flight and sum(size or 0 for size in in_flight) >= self.window_bytes:
                return
            raw = load(message_pk)
            if not self._send(raw):
                return
            in_flight.append(len(raw) if raw is not None else None)

    def close(self) -> None:
        """Stop the worker (the next backlog starts another)."""
        worker, self._worker = self._worker, None
        if worker is None:
            return
        worker.conn.close()  # the worker sees the end of its input and returns
        try:
            worker.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait(timeout=5)

    def _send(self, raw: bytes | None) -> bool:
        worker = self._worker
        if worker is None:
            return False
        try:
            worker.conn.send_bytes(raw or b"")
        except _GONE:
            self._lost("send")
            return False
        return True

    def _receive(self) -> ParsedMail | None:
        worker = self._worker
        if worker is None:
            return None
        try:
            if not worker.conn.poll(self.timeout):
                self._lost("timeout")
                return None
            mail = worker.conn.recv()
        except _GONE:
            self._lost("receive")
            return None
        return mail if isinstance(mail, ParsedMail) else None

    def _start(self) -> _Worker | None:
        ours, theirs = socket.socketpair()
        try:
            # Our own interpreter and module, no shell: nothing here comes from outside.
            database = [str(self.database)] if self.database is not None else []
            process = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "foi_mailbot.parsing.worker", str(theirs.fileno()),
                 *database],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
        except OSError as exc:
            log.warning("parse_ahead.unavailable", error_type=type(exc).__name__)
            ours.close()
            return None
        finally:
            theirs.close()
        self._worker = _Worker(process, Connection(ours.detach()))
        return self._worker

    def _lost(self, when: str) -> None:
        log.warning("parse_ahead.worker_lost", when=when)
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.conn.close()
            worker.process.kill()
            worker.process.wait(timeout=5)
