"""The parser in a second process: same results as in place, a bounded read-ahead, and a
lost worker costing nothing but the speed."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from foi_mailbot.parsing import parse
from foi_mailbot.parsing.folding import fold_mail
from foi_mailbot.parsing.pool import MIN_BACKLOG, SWITCH_SECONDS, TASK_MESSAGES, ParsePool

FIXTURES = sorted((Path(__file__).parents[1] / "fixtures").glob("*.eml"))[:12]
RAWS = {pk: path.read_bytes() for pk, path in enumerate(FIXTURES, start=1)}

pytestmark = pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: parsed in place")


def test_a_backlog_is_parsed_and_folded_in_the_second_process_as_it_would_be_in_place() -> None:
    """Every message comes back in order, parsed exactly as `parse` does it here, with its
    texts folded exactly as classification would fold them."""
    pool = ParsePool()
    try:
        results = list(pool.parsed(list(RAWS), RAWS.get))
    finally:
        pool.close()

    assert list(RAWS) == [pk for pk, _ahead in results]
    for pk, ahead in results:
        assert ahead is not None
        assert parse(RAWS[pk]) == ahead.mail
        assert fold_mail(ahead.mail) == ahead.folded


@pytest.mark.parametrize(("window", "window_bytes", "ahead"), [(4, 2**30, 4), (32, 1, 1)])
def test_the_read_ahead_is_bounded_in_messages_and_in_bytes(
    window: int, window_bytes: int, ahead: int
) -> None:
    """No more than `window` messages, nor (past the first) `window_bytes`, are in flight."""
    loaded: list[int] = []

    def load(pk: int) -> bytes:
        loaded.append(pk)
        return RAWS[pk]

    pool = ParsePool(window=window, window_bytes=window_bytes)
    in_flight_at_each: list[int] = []
    try:
        for index, (_pk, mail) in enumerate(pool.parsed(list(RAWS), load)):
            assert mail is not None
            in_flight_at_each.append(len(loaded) - index)
    finally:
        pool.close()

    assert max(in_flight_at_each) == ahead


def test_the_worker_is_sent_messages_a_whole_task_at_a_time() -> None:
    """The window is refilled when a whole task fits in it, not a message at a time as each
    is taken: with a window of one task, the next task goes once the first is all taken."""
    loaded: list[int] = []

    def load(pk: int) -> bytes:
        loaded.append(pk)
        return RAWS[pk]

    pool = ParsePool(window=TASK_MESSAGES)
    loaded_at_each: list[int] = []
    try:
        for _pk, mail in pool.parsed(list(RAWS), load):
            assert mail is not None
            loaded_at_each.append(len(loaded))
    finally:
        pool.close()

    rest = len(RAWS) - TASK_MESSAGES
    assert [TASK_MESSAGES] * TASK_MESSAGES + [len(RAWS)] * rest == loaded_at_each


def test_the_loop_gives_the_hand_over_threads_a_turn_often_while_the_worker_runs() -> None:
    """During a backlog the interpreter switches threads every half millisecond, so the
    threads handing messages to the worker are not kept waiting; afterwards, as before."""
    before = sys.getswitchinterval()
    pool = ParsePool()
    during: list[float] = []
    try:
        for _pk, _mail in pool.parsed(list(RAWS), RAWS.get):
            during.append(sys.getswitchinterval())
    finally:
        pool.close()

    assert {SWITCH_SECONDS} == set(during)
    assert before == sys.getswitchinterval()


def test_a_handful_of_messages_is_parsed_in_place_without_a_second_process() -> None:
    """Below the backlog worth a process, nothing is started and nothing is loaded."""
    pool = ParsePool()
    ids = list(RAWS)[: MIN_BACKLOG - 1]

    results = list(pool.parsed(ids, RAWS.get))

    assert [(pk, None) for pk in ids] == results
    assert [] == multiprocessing.active_children()


def test_a_worker_killed_mid_backlog_leaves_the_rest_to_be_parsed_in_place() -> None:
    """SIGKILL to the worker: no error, the messages after it come back unparsed (None)."""
    pool = ParsePool(window=2)
    results = []
    try:
        for pk, mail in pool.parsed(list(RAWS), RAWS.get):
            results.append((pk, mail))
            if len(results) == 1:
                [worker] = multiprocessing.active_children()
                os.kill(worker.pid or 0, signal.SIGKILL)
                worker.join(timeout=10)
    finally:
        pool.close()

    assert list(RAWS) == [pk for pk, _mail in results]
    assert results[0][1] is not None
    assert results[-1][1] is None
    assert [] == multiprocessing.active_children()


_DAEMON_WITH_A_WORKER = """
import multiprocessing, sys, time
from pathlib import Path
from foi_mailbot.parsing.pool import ParsePool

raws = {n: Path(p).read_bytes() for n, p in enumerate(sys.argv[1:], start=1)}
pool = ParsePool()
for _pk, _mail in pool.parsed(list(raws), raws.get):
    [worker] = multiprocessing.active_children()
    print(worker.pid, flush=True)
    time.sleep(600)
"""


def test_the_worker_ends_when_the_daemon_is_killed() -> None:
    """kill -9 of the daemon's process: its parsing process does not outlive it."""
    daemon = subprocess.Popen(
        [sys.executable, "-c", _DAEMON_WITH_A_WORKER, *map(str, FIXTURES)],
        stdout=subprocess.PIPE, cwd=Path(__file__).parents[2],
    )
    try:
        assert daemon.stdout is not None
        worker = int(daemon.stdout.readline())
        os.kill(daemon.pid, signal.SIGKILL)
        daemon.wait(timeout=10)
        deadline = time.monotonic() + 20
        while _running(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _running(worker)
    finally:
        daemon.kill()
        daemon.wait(timeout=10)


def _running(pid: int) -> bool:
    """True while `pid` is a live process (a zombie awaiting its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
