"""A backlog's next messages parsed in a second process while the current one is applied.

Parsing is pure and the costliest step for a message; applying is database work one process
does. With a backlog the two overlap on two cores. A handful of messages are parsed in place:
starting a process would only add latency.

The worker is a `ProcessPoolExecutor` of one process, started by "spawn" (it imports the
parser only) and stopped when the backlog is done. It is sent raw bytes and returns the
`ParsedMail` with its texts folded for classification (`Ahead`): folding is pure too, and the
loop, not the worker, sets a backlog's pace. Both ways are pickled, so the bytes in flight are
bounded as well as the messages. Messages go a few to a task: each task costs the executor's
threads in the daemon's process the same hand-overs, however small it is.
If it dies (a message that crashes the parser, the OOM killer), the rest of the backlog is
parsed in place, where the runner's attempt counting catches a message that kills a process.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Final, NamedTuple

import structlog

from foi_mailbot.parsing import parse
from foi_mailbot.parsing.folding import FoldedMail, fold_mail
from foi_mailbot.parsing.parsed import ParsedMail

log = structlog.get_logger(__name__)

MIN_BACKLOG: Final = 4
"""Fewer pending messages than this are parsed in place."""

SWITCH_SECONDS: Final = 0.0005
"""While the worker runs, how long the loop may keep the interpreter before another thread of
the daemon gets a turn (Python's default is 5 ms). The executor's threads hand each message to
the worker and take back its result; with the loop applying messages in long stretches of
Python, at 5 ms a turn the worker waited on them and the backlog took about a tenth longer."""

TASK_MESSAGES: Final = 8
"""Messages sent to the worker in one task, at most. One a task, the executor's threads took
an eighth of the daemon's processor time in a backlog, and the loop waited on them."""
TASK_BYTES: Final = 2**19
"""A task's raw bytes, at most (past its first message): the worker holds a whole task and
its results at once."""

RawLoader = Callable[[int], bytes | None]
"""The stored raw bytes of a message, by primary key (None when there are none)."""


class Ahead(NamedTuple):
    """A message parsed in the second process, with its texts folded as classification
    reads them."""

    mail: ParsedMail
    folded: FoldedMail


def parse_ahead(raw: bytes) -> Ahead:
    """What the second process does with a message's bytes."""
    mail = parse(raw)
    return Ahead(mail, fold_mail(mail))


def parse_task(raws: list[bytes]) -> list[Ahead]:
    """What the second process does with a task: each message's bytes, in order."""
    return [parse_ahead(raw) for raw in raws]


@dataclass
class _Sent:
    message_pk: int
    task: Future[list[Ahead]] | None  # None: to be parsed in place
    index: int  # its place in the task
    size: int


@dataclass
class ParsePool:
    """Pending messages in order, each with its parsed form (None: parse it in place)."""

    window: int = 32
    """Messages sent ahead of the one in hand: enough to ride over a slow one."""
    window_bytes: int = 4 * 2**20
    """Raw bytes in flight at most: a few large attachments."""
    _executor: ProcessPoolExecutor | None = field(default=None, init=False, repr=False)
    _broken: bool = field(default=False, init=False, repr=False)
    _switch: float | None = field(default=None, init=False, repr=False)  # to restore on close

    @staticmethod
    def wanted(backlog: int) -> bool:
        """True when `backlog` messages are worth a second process (on a multi-core machine)."""
        return backlog >= MIN_BACKLOG and (os.cpu_count() or 1) > 1

    def parsed(
        self, ids: Sequence[int], load: RawLoader
    ) -> Iterator[tuple[int, Ahead | None]]:
        """Each id in order with its parsed message, or None where it is to be parsed in place.

        Reading ahead stops where the caller stops: what was sent ahead is dropped."""
        if not self.wanted(len(ids)):
            yield from ((message_pk, None) for message_pk in ids)
            return
        self._broken = False
        upcoming, in_flight = iter(ids), deque[_Sent]()
        while True:
            self._send_ahead(upcoming, in_flight, load)
            if not in_flight:
                return
            sent = in_flight.popleft()
            yield sent.message_pk, self._result(sent)

    def _send_ahead(self, upcoming: Iterator[int], in_flight: deque[_Sent],
                    load: RawLoader) -> None:
        """Fill the window a task at a time, once there is room for a whole one."""
        while not in_flight or len(in_flight) + min(TASK_MESSAGES, self.window) <= self.window:
            task = self._task(upcoming, in_flight, load)
            if not task:
                return
            raws = [raw for _pk, raw in task if raw is not None]
            future = self._submit(raws) if raws else None
            index = 0
            for message_pk, raw in task:
                if future is None or raw is None:
                    in_flight.append(_Sent(message_pk, None, 0, 0))
                else:
                    in_flight.append(_Sent(message_pk, future, index, len(raw)))
                    index += 1

    def _task(self, upcoming: Iterator[int], in_flight: deque[_Sent],
              load: RawLoader) -> list[tuple[int, bytes | None]]:
        """The next messages with their bytes (None: parsed in place): as many as a task
        holds and the window has room for (past the first message of each, in bytes too)."""
        task: list[tuple[int, bytes | None]] = []
        count, size = len(in_flight), sum(sent.size for sent in in_flight)
        task_size = 0
        while (len(task) < TASK_MESSAGES and task_size < TASK_BYTES and count < self.window
               and (count == 0 or size < self.window_bytes)):
            message_pk = next(upcoming, None)
            if message_pk is None:
                break
            raw = None if self._broken else load(message_pk)
            task.append((message_pk, raw))
            length = len(raw or b"")
            count, size, task_size = count + 1, size + length, task_size + length
        return task

    def _submit(self, raws: list[bytes]) -> Future[list[Ahead]] | None:
        try:
            if self._executor is None:
                self._switch = sys.getswitchinterval()
                sys.setswitchinterval(SWITCH_SECONDS)
                self._executor = ProcessPoolExecutor(
                    max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_worker_started)
            return self._executor.submit(parse_task, raws)
        except (BrokenProcessPool, OSError, RuntimeError) as exc:
            self._lost(exc)
            return None

    def _result(self, sent: _Sent) -> Ahead | None:
        if sent.task is None:
            return None
        try:
            return sent.task.result()[sent.index]
        except BrokenProcessPool as exc:
            self._lost(exc)
        except Exception:  # noqa: BLE001 - parsed again in place, where the error is recorded
            log.warning("parse_pool.parse_failed")
        return None

    def _lost(self, exc: BaseException) -> None:
        if not self._broken:
            log.warning("parse_pool.worker_lost", error_type=type(exc).__name__)
        self._broken = True
        self.close()

    def close(self) -> None:
        """Stop the worker process (the next backlog starts another)."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        if self._switch is not None:
            sys.setswitchinterval(self._switch)
            self._switch = None


def _worker_started() -> None:
    """In the worker: leave signals to the daemon, and end with it, even if it is killed."""
    # A Ctrl-C at a terminal, or systemd stopping the service, reaches every process of the
    # daemon: it finishes the message in hand and then stops the worker itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()


def _exit_with(parent: multiprocessing.process.BaseProcess) -> None:
    parent.join()  # returns when the daemon's process has gone, however it went
    os._exit(0)
