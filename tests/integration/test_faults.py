"""Faults against real servers: IMAP, SMTP, the database and the disk fail under a working daemon.

After each fault every request is stored once, opens one case, gets one acknowledgement, and
nothing is left behind in the inbox or the outbox.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from foi_mailbot.clock import FixedClock
from foi_mailbot.settings import Settings
from tests.conftest import PG_URL
from tests.integration.daemon_process import DaemonProcess, wait_until, write_config
from tests.integration.faults_support import (
    Daemons,
    acknowledgements,
    check_once_each,
    count,
    deliver,
    events,
    fill,
    request,
    silent_listener,
    small_tmpfs,
    terminate_sessions,
    truncate_wal,
    wait_for_event,
    with_application_name,
)
from tests.integration.harness import Harness, imap_settings
from tests.servers.dovecot import Dovecot
from tests.servers.smtp_sink import SmtpSink

pytestmark = [pytest.mark.dovecot, pytest.mark.slow]

MONDAY = datetime(2026, 1, 12, 10, 0, tzinfo=UTC)
# What the daemon logs when a cut database session interrupts work it then retries.
INTERRUPTED = ("daemon.cycle_failed", "job.failed")


@pytest.fixture
def daemons() -> Iterator[Daemons]:
    """Daemon processes for one test, killed afterwards if a failure left them running."""
    started = Daemons()
    yield started
    started.kill_all()


def _sqlite_daemon(
    daemons: Daemons, tmp_path: Path, dovecot: Dovecot, sink: SmtpSink, **extra: Any
) -> tuple[DaemonProcess, str]:
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    config = write_config(tmp_path / "c.toml", db=db, dovecot=dovecot, sink=sink,
                          data_dir=tmp_path / "data", **extra)
    return daemons.new(config, tmp_path / "daemon.log"), db


def _wait_for_acks(sink: SmtpSink, n: int, timeout: float) -> None:
    wait_until(lambda: len(acknowledgements(sink)) >= n, timeout, f"{n} acknowledgements")


def test_imap_outages_during_idle_are_logged_once_each_and_mail_after_them_is_processed(
    dovecot: Dovecot, smtp_sink: SmtpSink, tmp_path: Path, daemons: Daemons
) -> None:
    """Dovecot stopped, then killed, under an idle daemon: it reconnects and misses nothing."""
    daemon, db = _sqlite_daemon(daemons, tmp_path, dovecot, smtp_sink)
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
    dovecot: Dovecot, smtp_sink: SmtpSink, tmp_path: Path, daemons: Daemons
) -> None:
    """Dovecot killed while 120 messages are being fetched; after its restart all go through once."""
    n = 120
    deliver(dovecot, range(n))
    daemon, db = _sqlite_daemon(daemons, tmp_path, dovecot, smtp_sink, mailbox={"batch_size": 10})
    daemon.start()
    wait_for_event(daemon.log, "message.stored", times=10, timeout=30)
    dovecot.kill()
    stored_before_crash = count(daemon.log, "message.stored")
    wait_for_event(daemon.log, "imap.connection_lost", timeout=10)
    time.sleep(1.0)
    dovecot.start()
    # A kill that lands in a UID MOVE leaves the killed process's maildir dotlock behind, and
    # the restarted Dovecot may then answer no SELECT until it deems the lock stale (up to two
    # minutes); the daemon retries every few seconds meanwhile, as it must.
    _wait_for_acks(smtp_sink, n, 180)
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


@pytest.mark.postgres
def test_database_sessions_cut_repeatedly_mid_run_leave_the_daemon_working(
    pg_url: str, dovecot: Dovecot, smtp_sink: SmtpSink, tmp_path: Path, daemons: Daemons
) -> None:
    """The daemon's PostgreSQL sessions are ended again and again as mail flows; it carries on."""
    name = f"foi-daemon-{uuid.uuid4().hex[:12]}"
    config = write_config(tmp_path / "c.toml", db=with_application_name(pg_url, name),
                          dovecot=dovecot, sink=smtp_sink, data_dir=tmp_path / "data")
    daemon = daemons.new(config, tmp_path / "daemon.log")
    daemon.start()
    wait_for_event(daemon.log, "daemon.started", timeout=30)
    ended = 0
    for first in range(0, 30, 10):
        deliver(dovecot, range(first, first + 10))
        # Often enough to land inside work: the daemon handles ten messages in a blink.
        for _ in range(40):
            time.sleep(0.03)
            ended += terminate_sessions(PG_URL, name, spare_lock=True)
    _wait_for_acks(smtp_sink, 30, 60)
    wait_until(lambda: [] == dovecot.list_uids("INBOX"), 30, "the inbox to be emptied")
    interrupted = sum(count(daemon.log, event) for event in INTERRUPTED)

    assert ended >= 4 and interrupted >= 1, "no session was cut in the middle of work"
    assert 0 == count(daemon.log, "message.failed"), "a message was blamed for the database"
    assert daemon.alive()
    assert 1 == count(daemon.log, "daemon.started")
    assert 0 == daemon.terminate()
    check_once_each(pg_url, smtp_sink, dovecot, range(30))


@pytest.fixture
def small_data_dir(tmp_path: Path) -> Iterator[Path]:
    """An 8 MB tmpfs as the data directory (skipped where mounting is not allowed): room for the
    schema, a first message and SQLite's log, and `fill` takes whatever is left."""
    with contextlib.ExitStack() as stack:
        try:
            path = stack.enter_context(small_tmpfs(tmp_path / "data", "8m"))
        except PermissionError as exc:
            pytest.skip(str(exc))
        yield path


def test_a_full_disk_keeps_mail_on_the_server_until_space_returns(
    dovecot: Dovecot, smtp_sink: SmtpSink, tmp_path: Path, small_data_dir: Path,
    daemons: Daemons,
) -> None:
    """SQLite on a full disk: nothing is moved off the server, no crash loop, then all goes."""
    db = f"sqlite:///{small_data_dir / 'db.sqlite'}"
    config = write_config(tmp_path / "c.toml", db=db, dovecot=dovecot, sink=smtp_sink,
                          data_dir=small_data_dir)
    daemon = daemons.new(config, tmp_path / "daemon.log")
    daemon.start()
    deliver(dovecot, [0])
    _wait_for_acks(smtp_sink, 1, 30)
    time.sleep(1.0)  # idle: no transaction open
    truncate_wal(small_data_dir / "db.sqlite")
    filler = small_data_dir / "filler"
    fill(filler)

    deliver(dovecot, [1, 2, 3], attachment_bytes=100_000)
    wait_for_event(daemon.log, "daemon.cycle_failed", times=2, timeout=20)
    assert 1 == count(daemon.log, "message.stored")
    assert 3 == len(dovecot.list_uids("INBOX"))
    assert daemon.alive()
    filler.unlink()
    _wait_for_acks(smtp_sink, 4, 30)
    wait_until(lambda: [] == dovecot.list_uids("INBOX"), 30, "the inbox to be emptied")

    backoff = [e["retry_in_seconds"] for e in events(daemon.log)
               if e["event"] == "daemon.cycle_failed"]
    assert [1.0, 2.0] == backoff[:2] and len(backoff) <= 4, "not backing off"
    assert 1 == count(daemon.log, "daemon.started")
    assert 0 == daemon.terminate()
    check_once_each(db, smtp_sink, dovecot, range(4))
