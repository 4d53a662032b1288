"""Faults against real servers: IMAP, SMTP, the database and the disk fail under a working daemon.

After each fault every request is stored once, opens one case, gets one acknowledgement, and
nothing is left behind in the inbox or the outbox.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from foi_mailbot.clock import FixedClock
from foi_mailbot.settings import Settings
from tests.integration.daemon_process import DaemonProcess, wait_until, write_config
from tests.integration.faults_support import (
    acknowledgements,
    check_once_each,
    count,
    deliver,
    request,
    silent_listener,
    wait_for_event,
)
from tests.integration.harness import Harness, imap_settings
from tests.servers.dovecot import Dovecot
from tests.servers.smtp_sink import SmtpSink

pytestmark = [pytest.mark.dovecot, pytest.mark.slow]

MONDAY = datetime(2026, 1, 12, 10, 0, tzinfo=UTC)


def _sqlite_daemon(tmp_path: Path, dovecot: Dovecot, sink: SmtpSink, **extra: object) -> tuple[
    DaemonProcess, str
]:
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    config = write_config(tmp_path / "c.toml", db=db, dovecot=dovecot, sink=sink,
                          data_dir=tmp_path / "data", **extra)
    return DaemonProcess(config, tmp_path / "daemon.log"), db


def _wait_for_acks(sink: SmtpSink, n: int, timeout: float) -> None:
    wait_until(lambda: len(acknowledgements(sink)) >= n, timeout, f"{n} acknowledgements")


def test_imap_outages_during_idle_are_logged_once_each_and_mail_after_them_is_processed(
    dovecot: Dovecot, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """Dovecot stopped, then killed, under an idle daemon: it reconnects and misses nothing."""
    daemon, db = _sqlite_daemon(tmp_path, dovecot, smtp_sink)
    daemon.start()
    deliver(dovecot, [1])
    _wait_for_acks(smtp_sink, 1, 30)

    for outage, (n, take_down) in enumerate([(2, dovecot.stop), (3, dovecot.kill)], start=1):
        time.sleep(1.0)  # the daemon is back in IDLE
        take_down()
        wait_for_event(daemon.log, "imap.connection_lost", times=outage, timeout=10)
        time.sleep(3.0)  # long enough for several reconnection attempts to fail
        dovecot.start()
        deliver(dovecot, [n])
        _wait_for_acks(smtp_sink, n, 30)
        assert daemon.alive()
        assert outage == count(daemon.log, "imap.connection_lost")
        assert outage == count(daemon.log, "imap.reconnected")

    assert 0 == daemon.terminate()
    assert 1 == count(daemon.log, "daemon.started")
    check_once_each(db, smtp_sink, dovecot, [1, 2, 3])


def test_imap_crash_during_a_batch_fetch_loses_and_doubles_nothing(
    dovecot: Dovecot, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """Dovecot killed while 150 messages are being fetched; after its restart all go through once."""
    n = 150
    deliver(dovecot, range(n))
    daemon, db = _sqlite_daemon(tmp_path, dovecot, smtp_sink, mailbox={"batch_size": 10})
    daemon.start()
    wait_for_event(daemon.log, "message.stored", times=10, timeout=30)
    dovecot.kill()
    stored_before_crash = count(daemon.log, "message.stored")
    wait_for_event(daemon.log, "imap.connection_lost", timeout=10)
    time.sleep(1.0)
    dovecot.start()
    _wait_for_acks(smtp_sink, n, 90)
    wait_until(lambda: [] == dovecot.list_uids("INBOX"), 30, "the inbox to be emptied")

    assert stored_before_crash < n, "the crash came after the fetch had finished"
    assert daemon.alive()
    assert 0 == daemon.terminate()
    check_once_each(db, smtp_sink, dovecot, range(n))


def _outbox(db: str) -> list[tuple[str, int, str]]:
    engine = create_engine(db)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT status, attempts, coalesce(last_error, '') FROM outbox_message ORDER BY id"
        )).all()
    engine.dispose()
    return [(str(r[0]), int(r[1]), str(r[2])) for r in rows]


def test_smtp_refusing_then_silent_then_deferring_delays_each_acknowledgement_without_doubling(
    make_settings: Callable[..., Settings], dovecot: Dovecot, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """Refused, then no greeting until the timeout, then 421 on RCPT: once back, one ack each."""
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    base = imap_settings(make_settings, dovecot, smtp_sink, db)
    smtp = base.smtp.model_copy(update={"timeout_seconds": 2.0})
    settings = base.model_copy(update={"smtp": smtp})
    clock = FixedClock(MONDAY)
    h = Harness.start(settings, dovecot, smtp_sink, clock)
    numbers = [1, 2, 3]
    try:
        smtp_sink.stop()
        for n in numbers:
            h.deliver(request(n))
        h.cycle()
        assert [("pending", 1)] * 3 == [row[:2] for row in _outbox(db)]
        assert all("ConnectionRefused" in row[2] for row in _outbox(db))

        with silent_listener(smtp_sink.host, smtp_sink.port):
            clock.advance(timedelta(hours=1))
            h.cycle()
        assert [("pending", 2)] * 3 == [row[:2] for row in _outbox(db)]
        assert all("timed out" in row[2] for row in _outbox(db))

        smtp_sink.start()
        smtp_sink.fail_next(421, times=len(numbers))
        clock.advance(timedelta(hours=1))
        h.cycle()
        assert [("pending", 3)] * 3 == [row[:2] for row in _outbox(db)]
        assert all("421" in row[2] for row in _outbox(db))
        assert [] == smtp_sink.messages

        for _ in range(3):
            clock.advance(timedelta(hours=1))
            h.cycle()
        assert [("sent", 4)] * 3 == [row[:2] for row in _outbox(db)]
    finally:
        h.close()
    check_once_each(db, smtp_sink, dovecot, numbers)
