"""What both mail benchmarks share: the Dovecot they read, quiet production logging, settings,
an instant transport, RSS readings, and a timer around the daemon's stages.

Nothing here measures on its own; `bench.bench_ingest` and `bench.bench_latency` use it.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import resource
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imapclient import IMAPClient

from tests.servers.dovecot import Dovecot

PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Server:
    """Where the private Dovecot listens, as plain values a child process can receive."""

    host: str
    port: int
    user: str
    password: str

    @classmethod
    def of(cls, dovecot: Dovecot) -> Server:
        """The address and login of a running Dovecot."""
        return cls(dovecot.host, dovecot.port, dovecot.user, dovecot.password)

    def client(self) -> IMAPClient:
        """A logged-in client with imaplib's per-response repr() switched off (6-7x slower on)."""
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=60)
        client._imap.debug = 0
        client.login(self.user, self.password)
        return client




def rss_bytes(pid: int | str = "self") -> int:
    """A process's resident set size now (this process's by default)."""
    with open(f"/proc/{pid}/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * PAGE


def _children(name: str, pid: int | str = "self") -> Iterator[str]:
    """The text of `/proc/CHILD/name` for each child of a process (the parsing worker)."""
    ours = Path(f"/proc/{pid}/cmdline").read_bytes()
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in children.read_text(encoding="ascii").split():
            try:
                # A worker being started (vfork, not yet exec) shares its parent's memory
                # and shows its RSS and high-water mark: counting it would count it twice.
                if Path(f"/proc/{child}/cmdline").read_bytes() == ours:
                    continue
                yield Path(f"/proc/{child}/{name}").read_text(encoding="ascii")
            except OSError:
                continue  # it ended meanwhile


def tree_rss_bytes(pid: int | str = "self") -> int:
    """RSS of a process and its children (the daemon's parsing worker) now."""
    return rss_bytes(pid) + sum(int(statm.split()[1]) * PAGE for statm in _children("statm", pid))


def children_hwm_bytes(pid: int | str = "self") -> int:
    """The sum of a process's children's peak RSS so far (VmHWM), as the kernel counts it."""
    return sum(
        int(line.split()[1]) * 1024
        for status in _children("status", pid)
        for line in status.splitlines()
        if line.startswith("VmHWM:")
    )


def peak_rss_bytes() -> int:
    """The highest RSS this process has had (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def trimmed_rss_bytes() -> int:
    """RSS once glibc has given back every free page of its heaps (what is really held)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return rss_bytes()


def forget_closed_engines() -> None:
    """Drop what SQLAlchemy's mappers compiled for engines now closed.

    Each round builds an App of its own, which the daemon does once in its life. Every mapper
    keeps its compiled INSERT and UPDATE statements per dialect object (an LRU of 100), so each
    round's closed engines would leave about 0.6 MB behind, and "RSS after each round" would
    measure the benchmark instead of the daemon (with this, six rounds stay within 0.3 MB).
    """
    from foi_mailbot.storage.models import Base

    for mapper in Base.registry.mappers:
        mapper._compiled_cache.clear()


class RssSampler:
    """Samples a process's RSS (with its children's) in a thread, so each round can report its
    own peak. Run it in another process than the one it watches: in the daemon's own, its
    reads of /proc took the daemon's interpreter lock about a tenth of the time."""

    def __init__(self, pid: int, every: float = 0.02) -> None:
        self.pid = pid
        self.peak = 0
        # The children's own high-water marks (VmHWM): exact, however short a spike was, and
        # kept until a child exits; with the daemon's ru_maxrss they bound the peak from above.
        self.child_hwm = 0
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            with contextlib.suppress(OSError):  # the process ended
                self.peak = max(self.peak, tree_rss_bytes(self.pid))
                self.child_hwm = max(self.child_hwm, children_hwm_bytes(self.pid))

    def reset(self) -> None:
        """Start a new peak from the current RSS."""
        self.peak = tree_rss_bytes(self.pid)
        self.child_hwm = 0

    def stop(self) -> None:
        """End sampling."""
        self._stop.set()
        self._thread.join()


def quiet_logging() -> None:
    """The daemon's production logging (JSON lines, INFO), written to /dev/null.

    The cost of building every log line stays in the figures; the benchmark's output does not
    drown in them.
    """
    from foi_mailbot.logconfig import configure

    configure(level="INFO", json=True)
    sink = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sink)


def daemon_settings(server: Server, data_dir: Path, **sections: dict[str, Any]) -> Any:
    """Settings for a daemon on this Dovecot: data in `data_dir`, SQLite, defaults elsewhere."""
    from foi_mailbot.settings import Settings

    base: dict[str, dict[str, Any]] = {
        "organisation": {"name": "Example Council", "reference_secret": "bench-secret",
                         "mailbox_address": "foi@example.gov.uk",
                         "staff_domains": ["example.gov.uk"]},
        "paths": {"data_dir": str(data_dir)},
        "mailbox": {"host": server.host, "port": server.port, "username": server.user,
                    "password": server.password, "security": "none", "timeout_seconds": 60.0,
                    "start": "all"},
        "health": {"enabled": False, "port": 0},
    }
    for name, values in sections.items():
        base[name] = {**base.get(name, {}), **values}
    return Settings(**base)  # type: ignore[arg-type]




class InstantTransport:
    """See `Transport`: accepts every message at once and keeps only a count."""

    def __init__(self) -> None:
        self.sent = 0

    def send(self, raw: bytes, on_accepted: Callable[[], None] | None = None) -> None:
        """See `Transport.send`."""
        self.sent += 1
        if on_accepted is not None:
            on_accepted()




# glibc's allocator as the Dockerfile and config/foi-mailbot.service set it for the daemon.
PRODUCTION_MALLOC = {"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "131072",
                     "MALLOC_TRIM_THRESHOLD_": "131072"}


# The daemon's stages, as its `cycle.done` log events time them: (field, label).
STAGES = (
    ("store_seconds", "fetch + store (one durable commit a batch)"),
    ("process_seconds", "process pending (a savepoint a message)"),
    ("send_seconds", "send the outbox"),
)


class PhaseTimer(logging.Handler):
    """Time in the daemon's stages, read from its `cycle.done` log events in this process
    (and the messages applied, from `message.applied`): nothing of the daemon is patched."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self.applied = 0
        logging.getLogger().addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        """Note a stage's time from a daemon event (structlog passes the event as a dict)."""
        event = record.msg if isinstance(record.msg, dict) else {}
        if event.get("event") == "message.applied":
            self.applied += 1
        elif event.get("event") == "cycle.done":
            for key, label in STAGES:
                self.seconds[label] += float(event.get(key, 0.0))
                self.calls[label] += 1

    def reset(self) -> None:
        """Forget what was timed so far."""
        self.seconds.clear()
        self.calls.clear()
        self.applied = 0

    def brief(self) -> str:
        """Seconds in each stage, on one line."""
        return ", ".join(f"{label.split(' (')[0]} {self.seconds[label]:.1f} s"
                         for _key, label in STAGES)

    def table(self, wall: float) -> str:
        """Seconds, cycles, milliseconds per cycle and share of `wall` for each stage."""
        lines = [f"    {'stage':<46} {'s':>8} {'cycles':>7} {'ms/cycle':>9} {'of wall':>8}"]
        for _key, label in STAGES:
            if self.calls[label]:
                total, calls = self.seconds[label], self.calls[label]
                lines.append(f"    {label:<46} {total:8.1f} {calls:7,} "
                             f"{total / calls * 1e3:9.1f} {total / wall:8.0%}")
        if self.applied:
            processing = self.seconds[STAGES[1][1]]
            lines.append(f"    messages applied: {self.applied:,} "
                         f"({processing / self.applied * 1e3:.2f} ms each, processing)")
        return "\n".join(lines)
