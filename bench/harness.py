"""What both mail benchmarks share: the Dovecot they read, quiet production logging, settings,
an instant transport, RSS readings, and a timer around the daemon's stages.

Nothing here measures on its own; `bench.bench_ingest` and `bench.bench_latency` use it.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import logging
import os
import resource
import threading
import time
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
        """A logged-in client with imaplib's per-response repr() switched off (PERF.md trap 1)."""
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




# Entry points of the daemon's stages, timed by `PhaseTimer` (nested: parse runs inside _process).
PHASES = (
    ("foi_mailbot.daemon", "_Sync.step", "fetch + store a batch"),
    ("foi_mailbot.daemon", "store_many", "  store (one durable commit)"),
    ("foi_mailbot.pipeline", "Pipeline.run_pending", "process pending, per batch"),
    ("foi_mailbot.pipeline", "Pipeline.apply_one", "  one message"),
    ("foi_mailbot.pipeline", "parse", "    parse"),
    ("foi_mailbot.pipeline", "classify", "    classify"),
    ("foi_mailbot.pipeline", "find_thread", "    find_thread"),
    ("foi_mailbot.pipeline", "apply", "    apply (case, deadline, ack)"),
    ("foi_mailbot.parse_ahead", "ParseAhead._receive", "  wait for the parsing worker"),
    ("foi_mailbot.outbound.outbox", "Outbox.drain", "send the outbox, per drain"),
    ("foi_mailbot.outbound.outbox", "Outbox._send_one", "  one row"),
    ("foi_mailbot.outbound.outbox", "Outbox._copy", "  Sent copies (own thread)"),
)


# Stages entered once a message or a row: timed only. Asking for the peak RSS around each
# (a system call that stops the daemon's other threads) cost the daemon 5% of its time.
PER_ITEM = frozenset({"Pipeline.apply_one", "parse", "classify", "find_thread", "apply",
                      "ParseAhead._receive", "Outbox._send_one"})


class PhaseTimer:
    """Wall time inside the daemon's stages, by wrapping their entry points in this process."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self.peak_growth: Counter[str] = Counter()
        self.missing: list[str] = []
        for module_name, dotted, label in PHASES:
            self._wrap(module_name, dotted, label)

    def _wrap(self, module_name: str, dotted: str, label: str) -> None:
        owner: Any = importlib.import_module(module_name)
        *path, name = dotted.split(".")
        for part in path:
            owner = getattr(owner, part, None)
        original = getattr(owner, name, None) if owner is not None else None
        if original is None:
            self.missing.append(dotted)  # renamed since this benchmark was written
            return

        peaks = dotted not in PER_ITEM

        def timed(*args: Any, **kwargs: Any) -> Any:
            started, peak = time.perf_counter(), peak_rss_bytes() if peaks else 0
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - started
                self.calls[label] += 1
                if peaks:  # the process's peak RSS rose in this stage (a sampler can miss it)
                    self.peak_growth[label] += peak_rss_bytes() - peak

        setattr(owner, name, timed)

    def reset(self) -> None:
        """Forget what was timed so far."""
        self.seconds.clear()
        self.calls.clear()
        self.peak_growth.clear()

    def table(self, wall: float) -> str:
        """Seconds, calls, milliseconds per call and share of `wall` for each stage."""
        lines = [f"    {'stage':<34} {'s':>8} {'calls':>7} {'ms/call':>8} {'of wall':>8} "
                 f"{'peak +MB':>9}"]
        for _module, dotted, label in PHASES:
            if self.calls[label]:
                total, calls = self.seconds[label], self.calls[label]
                growth = "-" if dotted in PER_ITEM else f"{self.peak_growth[label] / 2**20:.0f}"
                lines.append(f"    {label:<34} {total:8.1f} {calls:7,} {total / calls * 1e3:8.2f} "
                             f"{total / wall:8.0%} {growth:>9}")
        if self.missing:
            lines.append(f"    (not found, not timed: {', '.join(self.missing)})")
        return "\n".join(lines)
