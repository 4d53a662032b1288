"""Helpers for the fault tests: distinct requests, the daemon's JSON log, a server that never
greets, PostgreSQL sessions to cut, a tiny filesystem to fill, and the "once each" check.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from tests.integration.daemon_process import DaemonProcess
from tests.servers.dovecot import Dovecot
from tests.servers.smtp_sink import Delivery, SmtpSink

REQUESTER_DOMAIN = "requesters.example.org"


def requester(n: int) -> str:
    """The address of requester n."""
    return f"requester{n}@{REQUESTER_DOMAIN}"


def request(n: int, *, attachment_bytes: int = 0) -> bytes:
    """A distinct, realistic new FOI request from requester n, optionally with an attachment."""
    msg = EmailMessage()
    msg["From"] = f"Requester {n} <{requester(n)}>"
    msg["To"] = "foi@example.gov.uk"
    msg["Subject"] = f"Information request {n}: road maintenance spending"
    msg["Date"] = format_datetime(datetime(2026, 1, 12, 9, 0, tzinfo=UTC))
    msg["Message-ID"] = f"<fault-req-{n}@{REQUESTER_DOMAIN}>"
    msg.set_content(
        "Dear Sir or Madam,\n\nUnder the Freedom of Information Act 2000, please provide the "
        f"amount spent on pothole repairs in ward {n} in each month of 2025, and the number of "
        f"repairs completed.\n\nYours faithfully,\nRequester {n}\n"
    )
    if attachment_bytes:
        # Incompressible bytes, so the stored row really is this large.
        msg.add_attachment(os.urandom(attachment_bytes), maintype="application",
                           subtype="octet-stream", filename=f"ward-{n}-map.bin")
    return msg.as_bytes()


def deliver(dovecot: Dovecot, numbers: Iterable[int], **options: Any) -> None:
    """Append one request per number to the inbox over a single connection."""
    with dovecot.client() as imap:
        for n in numbers:
            imap.append("INBOX", request(n, **options))


def acknowledgements(sink: SmtpSink) -> list[Delivery]:
    """Deliveries addressed to requesters (the digest and alerts go to staff and are ignored)."""
    return [d for d in sink.messages if any(r.endswith(REQUESTER_DOMAIN) for r in d.rcpt_tos)]


class Daemons:
    """`foi-mailbot run` processes started by one test; any left running are killed after it."""

    def __init__(self) -> None:
        self.started: list[DaemonProcess] = []

    def new(self, config: Path, log: Path) -> DaemonProcess:
        """A daemon for this configuration, logging to `log` (not started)."""
        daemon = DaemonProcess(config, log)
        self.started.append(daemon)
        return daemon

    def kill_all(self) -> None:
        """SIGKILL every daemon still running."""
        for daemon in self.started:
            daemon.kill9()


# -- the daemon's log --------------------------------------------------------------------------


def events(log: Path) -> list[dict[str, Any]]:
    """Every JSON log line written so far (anything else, such as a traceback, is skipped)."""
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return []
    found: list[dict[str, Any]] = []
    for line in lines:
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict) and "event" in entry:
                found.append(entry)
    return found


def count(log: Path, event: str) -> int:
    """How many times `event` was logged."""
    return sum(1 for entry in events(log) if entry["event"] == event)


def wait_for_event(log: Path, event: str, *, times: int = 1, timeout: float = 20.0) -> float:
    """Block until `event` was logged `times` times; returns when (time.monotonic())."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if count(log, event) >= times:
            return time.monotonic()
        time.sleep(0.02)
    seen = Counter(entry["event"] for entry in events(log))
    msg = f"{event!r} not logged {times} time(s) within {timeout}s; logged so far: {dict(seen)}"
    raise TimeoutError(msg)


# -- SMTP: a port that accepts connections and never greets ----------------------------------


@contextlib.contextmanager
def silent_listener(host: str, port: int) -> Iterator[socket.socket]:
    """Listen on (host, port) without ever accepting: the kernel completes each handshake, then
    nothing is said, so a client times out waiting for the greeting. The sink must be stopped.
    """
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        server.bind((host, port))
        server.listen(16)
        yield server
    finally:
        server.close()


# -- PostgreSQL ----------------------------------------------------------------------------------


def with_application_name(url: str, name: str) -> str:
    """The URL with `application_name`, so this process's sessions can be found and cut."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}application_name={name}"


def terminate_sessions(admin_url: str, application_name: str, *, spare_lock: bool) -> int:
    """End the server sessions of one application; returns how many were ended.

    With `spare_lock`, the session holding an advisory lock (the active instance's leadership)
    is left alone, so only the working connections drop.
    """
    query = (
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(a.pid)) FROM pg_stat_activity a "
        "WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() "
        "AND a.application_name = :name"
    )
    if spare_lock:
        query += (" AND NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid "
                  "AND l.locktype = 'advisory' AND l.granted)")
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(query), {"name": application_name}).scalar() or 0)
    finally:
        engine.dispose()


# -- a small filesystem --------------------------------------------------------------------------


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str) -> Iterator[Path]:
    """Mount a tmpfs of `size` (e.g. "3m") on `path`, yield `path`, and unmount it after.

    Raises PermissionError when mounting is not allowed here (not root, or no CAP_SYS_ADMIN).
    """
    path.mkdir(parents=True, exist_ok=True)
    try:
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
            capture_output=True, text=True, check=False, timeout=30,
        )
    except FileNotFoundError as exc:
        msg = "cannot mount a tmpfs: there is no mount command"
        raise PermissionError(msg) from exc
    if result.returncode != 0:
        msg = f"cannot mount a tmpfs on {path}: {result.stderr.strip() or result.returncode}"
        raise PermissionError(msg)
    try:
        yield path
    finally:
        # Lazy, so a process still holding a file there cannot make the unmount fail.
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False, timeout=30)


def fill(path: Path) -> int:
    """Write `path` until the filesystem has not one free block left; returns its size."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    written = 0
    try:
        for chunk in (1 << 20, 1 << 16, 1 << 12, 1 << 9):  # down to less than a page
            block = b"\0" * chunk
            while True:
                try:
                    written += os.write(fd, block)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    return written


def truncate_wal(database: Path, attempts: int = 20) -> None:
    """Checkpoint a SQLite database and empty its write-ahead log, so that the next write
    needs new disk space rather than reusing the log's old pages."""
    for _ in range(attempts):
        conn = sqlite3.connect(database, timeout=30)
        try:
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            conn.close()
        if not busy:
            return
        time.sleep(0.2)  # a reader in the daemon holds an old snapshot; it will let go
    msg = f"the write-ahead log of {database} could not be emptied"
    raise AssertionError(msg)


# -- the end state ---------------------------------------------------------------------------------


def check_once_each(db: str, sink: SmtpSink, dovecot: Dovecot, numbers: Iterable[int]) -> None:
    """Each request stored once, one case each, one acknowledgement each, the inbox empty."""
    wanted = {requester(n) for n in numbers}
    engine = create_engine(db)
    try:
        with engine.connect() as conn:
            senders = Counter(conn.scalars(text(
                "SELECT from_email FROM inbound_message WHERE direction = 'inbound'")))
            applicants = Counter(conn.scalars(text("SELECT applicant_email FROM \"case\"")))
            unfinished = conn.scalar(text(
                "SELECT count(*) FROM inbound_message WHERE status NOT IN ('applied', 'duplicate')"
            ))
            unsent = conn.execute(text(
                "SELECT purpose, status, attempts, last_error FROM outbox_message "
                "WHERE status <> 'sent'")).all()
    finally:
        engine.dispose()
    assert wanted == set(senders), "a request was not stored, or something else was"
    assert {1} == set(senders.values()), "a request was stored twice"
    assert wanted == set(applicants), "a request did not open a case"
    assert {1} == set(applicants.values()), "a request opened two cases"
    assert 0 == unfinished, "a stored message was not processed"
    assert [] == [tuple(row) for row in unsent], "an outgoing message was not sent"
    recipients = Counter(r for d in acknowledgements(sink) for r in d.rcpt_tos)
    assert wanted == set(recipients), "a requester got no acknowledgement"
    assert {1} == set(recipients.values()), "a requester got two acknowledgements"
    assert [] == dovecot.list_uids("INBOX"), "mail was left in the inbox"
