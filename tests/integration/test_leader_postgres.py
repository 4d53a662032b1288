"""One active instance on PostgreSQL: a standby waits, and takes over when the active one dies."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from foi_mailbot.leader import LOCK_CLASS, acquire_leadership
from foi_mailbot.storage.db import make_engine
from tests.conftest import PG_URL

pytestmark = pytest.mark.postgres

# Prints "LEADER" once active, then holds the lock until killed. structlog's default
# configuration prints `leader.standby` to stdout, which tells the test the process is waiting.
INSTANCE = """
import sys, threading
from foi_mailbot.leader import acquire_leadership
from foi_mailbot.storage.db import make_engine
stop = threading.Event()
leadership = acquire_leadership(make_engine(sys.argv[1]), stop=stop, poll=0.2)
print("LEADER" if leadership.acquired else "STOPPED", flush=True)
stop.wait()
"""


class Instance:
    """A daemon-like child process whose stdout lines are collected as they come."""

    def __init__(self, url: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", INSTANCE, url],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, needle: str, timeout: float) -> None:
        """Block until a line containing `needle` arrives; fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not any(needle in line for line in self.seen):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"no {needle!r} within {timeout}s; output so far: {self.seen}")
            try:
                self.seen.append(self.lines.get(timeout=remaining))
            except queue.Empty:
                continue

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, no unlock; only the server noticing the dead session."""
        self.process.kill()
        self.process.wait(timeout=30)


@pytest.fixture
def instances() -> Iterator[list[Instance]]:
    """Child processes, all killed at the end of the test."""
    started: list[Instance] = []
    yield started
    for instance in started:
        if instance.process.poll() is None:
            instance.kill()


def test_the_standby_takes_over_within_seconds_of_a_kill(
    pg_url: str, instances: list[Instance]
) -> None:
    """Process 1 leads, process 2 waits; after `kill -9` of 1, process 2 leads within 10 s."""
    first = Instance(pg_url)
    instances.append(first)
    first.wait_for("LEADER", timeout=30)
    second = Instance(pg_url)
    instances.append(second)
    second.wait_for("leader.standby", timeout=30)

    contender = acquire_leadership(make_engine(pg_url), stop=_already_set(), poll=0.05)
    assert not contender.acquired
    assert not any("LEADER" in line for line in second.seen)

    first.kill()
    second.wait_for("LEADER", timeout=10)


def test_a_clean_release_hands_over_at_once(pg_url: str) -> None:
    """Releasing the lock lets the next instance in on its first try."""
    engine = make_engine(pg_url)
    active = acquire_leadership(engine, stop=threading.Event())
    blocked = acquire_leadership(engine, stop=_already_set())
    active.release()
    active.release()
    successor = acquire_leadership(engine, stop=_already_set())

    assert active.acquired and not blocked.acquired and successor.acquired
    successor.release()


def test_leadership_is_lost_when_its_connection_drops(pg_url: str) -> None:
    """If the server ends the lock's session, `lost()` tells the daemon to stop."""
    leadership = acquire_leadership(make_engine(pg_url), stop=threading.Event())
    assert not leadership.lost()
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        ended = conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                 "AND classid::bigint = :c AND objid::bigint = :o"),
            {"c": LOCK_CLASS, "o": _key_of(pg_url)},
        ).all()
    admin.dispose()

    assert [(True,)] == [tuple(row) for row in ended]
    assert leadership.lost()
    assert leadership.lost()
    leadership.release()


def test_waiting_ends_when_stop_is_set(pg_url: str) -> None:
    """A standby asked to stop returns without the lock instead of waiting for ever."""
    engine = make_engine(pg_url)
    active = acquire_leadership(engine, stop=threading.Event())
    stop = threading.Event()
    result: list[bool] = []
    waiter = threading.Thread(
        target=lambda: result.append(acquire_leadership(engine, stop=stop, poll=0.05).acquired)
    )
    waiter.start()
    stop.set()
    waiter.join(timeout=30)
    active.release()

    assert [False] == result


def _already_set() -> threading.Event:
    event = threading.Event()
    event.set()
    return event


def _key_of(url: str) -> int:
    from foi_mailbot.leader import lock_key

    schema = url.rsplit("%3D", 1)[1]
    return lock_key(schema)[1]
