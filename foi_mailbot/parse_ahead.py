"""Pipeline helper: in a backlog, the next messages are parsed in a second process while the
current one is applied.

Parsing is pure and the costliest step for a message (PERF.md); applying is database work that
only one process can do at a time. With a backlog, the two overlap on two cores. A single new
message is parsed in place: starting and feeding a process would only add latency.

The worker is given the ids of a batch, reads each raw message from the database itself and
sends back the parsed form, running ahead as far as the pipe lets it. It is read from the
calling thread: no helper threads compete with the pipeline for the interpreter lock. It holds
no state: if it dies (a message that crashes the parser, the OOM killer), the rest of the batch
is parsed in place, where the pipeline's attempt counting catches a message that keeps killing
the process, and a new worker is started for the next backlog.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Final

import structlog
from sqlalchemy import select

from foi_mailbot.parsing import parse
from foi_mailbot.parsing.parsed import ParsedMail
from foi_mailbot.storage.db import make_engine, make_session_factory, session_scope
from foi_mailbot.storage.models import InboundMessage

log = structlog.get_logger(__name__)

MIN_BACKLOG: Final = 4
"""Fewer pending messages than this are parsed in place."""
_LOST: Final = (EOFError, OSError)


def serve(conn: Connection, database_url: str) -> None:
    """The worker: for each batch of ids received, parse each message and send it back in order."""
    factory = make_session_factory(make_engine(database_url))
    while True:
        try:
            ids: list[int] = conn.recv()
        except _LOST:
            return
        for message_pk in ids:
            with session_scope(factory) as session:
                raw = session.scalar(
                    select(InboundMessage.raw).where(InboundMessage.id == message_pk)
                )
            conn.send(parse(raw) if raw is not None else None)


@dataclass
class ParseAhead:
    """Yields pending messages with their parsed form, parsed ahead by a worker process."""

    database_url: str
    _worker: tuple[BaseProcess, Connection] | None = field(default=None, init=False, repr=False)

    def wanted(self, backlog: int) -> bool:
        """True when `backlog` messages are worth a second process (on a multi-core machine)."""
        return backlog >= MIN_BACKLOG and (multiprocessing.cpu_count() or 1) > 1

    def parsed(self, ids: Sequence[int]) -> Iterator[tuple[int, ParsedMail | None]]:
        """Each id in order with its parsed message; None where it is to be parsed in place."""
        conn = self._connection()
        if conn is not None:
            try:
                conn.send(list(ids))
            except _LOST:
                self._lost()
                conn = None
        done = 0
        try:
            for message_pk in ids:
                yield message_pk, self._receive() if conn is not None else None
                done += 1
        finally:
            if conn is not None and done < len(ids) and self._worker is not None:
                self.close()  # its remaining results are for messages no longer in hand

    def close(self) -> None:
        """Stop the worker (the next backlog starts another)."""
        worker, self._worker = self._worker, None
        if worker is None:
            return
        process, conn = worker
        conn.close()  # the worker sees the pipe end and returns
        process.join(timeout=5)
        if process.is_alive():
            process.kill()
            process.join(timeout=5)

    def _receive(self) -> ParsedMail | None:
        worker = self._worker
        if worker is None:
            return None
        try:
            parsed: ParsedMail | None = worker[1].recv()
        except _LOST:
            self._lost()
            return None
        return parsed

    def _connection(self) -> Connection | None:
        if self._worker is None:
            try:
                self._worker = _start(self.database_url)
            # E.g. this process is itself a daemonic child, which may not start one.
            except Exception as exc:  # noqa: BLE001
                log.warning("parse_ahead.unavailable", error_type=type(exc).__name__)
                return None
        return self._worker[1]

    def _lost(self) -> None:
        log.warning("parse_ahead.worker_lost")
        self.close()


def _start(database_url: str) -> tuple[BaseProcess, Connection]:
    # Spawned, not forked: the daemon has threads (scheduler, health) whose locks a fork would
    # copy mid-use. Daemonic, so it never outlives the daemon.
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=serve, args=(theirs, database_url),
                              name="foi-mailbot-parser", daemon=True)
    process.start()
    theirs.close()
    return process, ours
