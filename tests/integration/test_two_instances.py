"""Two `foi-mailbot run` processes on one register: one works, the other stands by.

On PostgreSQL the standby takes over within seconds of the active process being killed, and
between them every request is handled once. On SQLite a second process is turned away.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.daemon_process import wait_until, write_config
from tests.integration.faults_support import (
    Daemons,
    acknowledgements,
    check_once_each,
    count,
    deliver,
    events,
    wait_for_event,
)
from tests.servers.dovecot import Dovecot
from tests.servers.smtp_sink import SmtpSink

pytestmark = [pytest.mark.dovecot, pytest.mark.slow]

TAKEOVER_SECONDS = 10.0


@pytest.fixture
def daemons() -> Iterator[Daemons]:
    """Daemon processes for one test, killed afterwards if a failure left them running."""
    started = Daemons()
    yield started
    started.kill_all()


def _health(log: Path) -> int:
    """The HTTP status of /healthz on the port the daemon writing `log` listens on."""
    ports = [e["port"] for e in events(log) if e["event"] == "health.listening"]
    assert ports, "no health endpoint"
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ports[-1]}/healthz", timeout=5) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _wait_for_acks(sink: SmtpSink, n: int, timeout: float) -> None:
    wait_until(lambda: len(acknowledgements(sink)) >= n, timeout, f"{n} acknowledgements")


@pytest.mark.postgres
def test_the_standby_takes_over_within_seconds_of_a_kill_and_nothing_is_done_twice(
    pg_url: str, dovecot: Dovecot, smtp_sink: SmtpSink, tmp_path: Path, daemons: Daemons
) -> None:
    """Active killed while storing a batch: the standby leads within 10 s and finishes it once."""
    config = write_config(tmp_path / "c.toml", db=pg_url, dovecot=dovecot, sink=smtp_sink,
                          data_dir=tmp_path / "data")
    first = daemons.new(config, tmp_path / "first.log")
    first.start()
    wait_for_event(first.log, "daemon.started", timeout=30)
    second = daemons.new(config, tmp_path / "second.log")
    second.start()
    wait_for_event(second.log, "leader.standby", timeout=30)

    deliver(dovecot, range(10))
    _wait_for_acks(smtp_sink, 10, 30)
    assert 200 == _health(first.log)
    assert 0 == count(second.log, "daemon.started") + count(second.log, "message.stored")

    deliver(dovecot, range(10, 40))
    wait_for_event(first.log, "message.stored", times=12, timeout=30)
    first.kill9()
    killed = time.monotonic()
    deliver(dovecot, range(40, 45))  # arrives while nobody is active
    took_over = wait_for_event(second.log, "daemon.started", timeout=30)
    _wait_for_acks(smtp_sink, 45, 60)
    wait_until(lambda: [] == dovecot.list_uids("INBOX"), 30, "the inbox to be emptied")

    assert took_over - killed < TAKEOVER_SECONDS
    assert 200 == _health(second.log)
    assert 0 == second.terminate()
    check_once_each(pg_url, smtp_sink, dovecot, range(45))


def test_a_second_instance_on_sqlite_is_refused_with_exit_code_2(
    dovecot: Dovecot, smtp_sink: SmtpSink, tmp_path: Path, daemons: Daemons
) -> None:
    """SQLite serves one instance: a second `run` says so in one sentence and exits 2."""
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    config = write_config(tmp_path / "c.toml", db=db, dovecot=dovecot, sink=smtp_sink,
                          data_dir=tmp_path / "data")
    first = daemons.new(config, tmp_path / "first.log")
    first.start()
    wait_for_event(first.log, "daemon.started", timeout=30)

    second = subprocess.run(
        [sys.executable, "-m", "foi_mailbot", "run", "--config", str(config)],
        capture_output=True, text=True, timeout=60, check=False,
    )

    assert 2 == second.returncode
    assert "another foi-mailbot is already running" in second.stderr
    assert "Traceback" not in second.stderr
    assert first.alive()
    deliver(dovecot, [1])
    _wait_for_acks(smtp_sink, 1, 30)
    assert 0 == first.terminate()
    check_once_each(db, smtp_sink, dovecot, [1])
