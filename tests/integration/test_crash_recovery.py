"""kill -9 at any point, then a restart: no lost message, no second acknowledgement."""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from foi_mailbot.storage.models import Case, InboundMessage, OutboxMessage
from tests.integration.daemon_process import DaemonProcess, wait_until, write_config
from tests.integration.faults_support import acknowledgements, deliver, events, request
from tests.servers.dovecot import Dovecot
from tests.servers.smtp_sink import SmtpSink

pytestmark = [pytest.mark.dovecot, pytest.mark.slow]


def _counts(db: str) -> tuple[int, int]:
    engine = create_engine(db)
    with engine.connect() as conn:
        messages = conn.scalar(
            select(func.count(InboundMessage.id)).where(InboundMessage.direction == "inbound")
        ) or 0
        cases = conn.scalar(select(func.count(Case.id))) or 0
    engine.dispose()
    return int(messages), int(cases)


def _acks(sink: SmtpSink) -> int:
    return len(acknowledgements(sink))


def _check_once_each(db: str, sink: SmtpSink, n: int, log: Path | None = None) -> None:
    """Every message stored once, every case opened once, every acknowledgement sent once.

    With `log`, one exception is allowed and checked: SMTP has no two-phase commit, so a kill
    after our last byte reached the server and before its reply was read leaves the row
    `sending`, and the restart cannot know it went. The recovery logs each such row; only those
    may have reached their recipient twice, and no more than twice.
    """
    engine = create_engine(db)
    with engine.connect() as conn:
        senders = Counter(conn.scalars(
            select(InboundMessage.from_email).where(InboundMessage.direction == "inbound")
        ))
        applicants = Counter(conn.scalars(select(Case.applicant_email)))
        pending = conn.scalar(text(
            "SELECT count(*) FROM inbound_message WHERE status NOT IN ('applied', 'duplicate')"
        ))
        caught = {e["outbox_id"] for e in events(log) if e.get("event") == "outbox.recovered"
                  and e.get("status") == "pending"} if log else set()
        uncertain = set(conn.scalars(
            select(OutboxMessage.to_email).where(OutboxMessage.id.in_(caught))
        )) if caught else set()
    engine.dispose()
    assert n == len(senders), "a message was lost"
    assert [] == _twice(senders), "stored twice"
    assert n == len(applicants), "a case was not opened"
    assert [] == _twice(applicants), "case opened twice"
    assert 0 == pending
    # Only what went to requesters: the weekly digest to the officer may go out as well.
    recipients = Counter(r for d in acknowledgements(sink) for r in d.rcpt_tos)
    assert n == len(recipients), "an acknowledgement was not sent"
    twice = _twice(recipients)
    assert set(twice) <= uncertain, "acknowledged twice outside the SMTP exchange"
    assert all(recipients[r] == 2 for r in twice), "acknowledged more than twice"


def _twice(counts: Counter[str | None]) -> list[str | None]:
    return sorted((key for key, count in counts.items() if count > 1), key=str)


@pytest.mark.parametrize("delay", [0.0, 0.4, 0.9, 1.5])
def test_kill_between_request_and_acknowledgement_sends_exactly_one(
    dovecot: Dovecot, smtp_sink: SmtpSink, tmp_path: Path, delay: float
) -> None:
    """Killed at one of several moments after a request arrives, the restart sends one ack."""
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    config = write_config(tmp_path / "c.toml", db=db, dovecot=dovecot, sink=smtp_sink,
                          data_dir=tmp_path / "data")
    daemon = DaemonProcess(config, tmp_path / "daemon.log")
    try:
        daemon.start()
        wait_until((tmp_path / "db.sqlite").exists, 20, "the database")
        time.sleep(1.0)
        dovecot.append("INBOX", request(1))
        time.sleep(delay)
        daemon.kill9()

        daemon.start()
        wait_until(lambda: _acks(smtp_sink) >= 1, 30, "the acknowledgement")
        time.sleep(1.5)
    finally:
        daemon.kill9()

    assert (1, 1) == _counts(db)
    _check_once_each(db, smtp_sink, 1)


def test_repeated_kill9_during_a_500_message_ingest_loses_and_doubles_nothing(
    dovecot: Dovecot, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """Ten kills at random moments of a 500-message backlog: all stored once, acked once."""
    n = 500
    rng = random.Random(20261122)
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    deliver(dovecot, range(n))
    config = write_config(tmp_path / "c.toml", db=db, dovecot=dovecot, sink=smtp_sink,
                          data_dir=tmp_path / "data")
    daemon = DaemonProcess(config, tmp_path / "daemon.log")
    try:
        for _ in range(10):
            daemon.start()
            time.sleep(rng.uniform(0.8, 2.5))
            daemon.kill9()

        daemon.start()
        wait_until(lambda: _acks(smtp_sink) >= n, 180, "every acknowledgement")
        wait_until(lambda: _counts(db) == (n, n), 60, "every message stored and every case opened")
        time.sleep(1.0)
        daemon.terminate()
    finally:
        daemon.kill9()

    _check_once_each(db, smtp_sink, n, tmp_path / "daemon.log")
