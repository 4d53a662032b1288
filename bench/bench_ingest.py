"""Benchmark: a backlog of the realistic mix through the bare loop and through foi-mailbot.

Starts a private Dovecot, seeds its INBOX with the mix from `bench.seed` (10,000 messages,
about 1.4 GB; seeding is not timed), then alternates on the same messages:

* BARE: fetch (`BODY.PEEK[]`, batches of 100, imaplib debug 0), `foi_mailbot.parsing.parse`,
  and one durable SQLite commit (WAL, synchronous=FULL) of the raw bytes per message. Nothing
  else: the floor any mail daemon pays.
* OURS: the foi-mailbot daemon in this machine's default shape (IMAP source with the Sent
  folder, SQLite, acknowledgements copied to Sent), `Daemon.run_once` until the inbox is empty
  and nothing is pending, with a transport that accepts every message at once. It runs in its
  own process, so its peak RSS (with its parsing worker's) is its own; each round uses a fresh
  database, and afterwards the messages are moved back from the processed folder and the Sent
  folder is dropped.

Prints messages/s and MB/s for both, the ratio, the peak RSS of each round of OURS and the RSS
after it. `--profile` adds one round under cProfile and prints where the time went.

    .venv/bin/python -m bench.bench_ingest [--messages N | --scale F] [--rounds 5]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import multiprocessing
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench.harness import (
    PRODUCTION_MALLOC,
    InstantTransport,
    PhaseTimer,
    RssSampler,
    Server,
    daemon_settings,
    forget_closed_engines,
    peak_rss_bytes,
    quiet_logging,
    rss_bytes,
    trimmed_rss_bytes,
)
from bench.seed import FULL_SIZE, arrival, seed_folder
from tests.servers.dovecot import Dovecot

BATCH = 100
RATIO_TARGET = 0.6
"""OURS against the bare loop on the same messages: this machine's speed varies, the ratio less."""
CACHE = Path(tempfile.gettempdir()) / "foi-mailbot-bench-cache"


@dataclass
class Result:
    """One timed pass over the inbox."""

    label: str
    messages: int
    size: int
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Messages per second."""
        return self.messages / self.seconds

    def line(self) -> str:
        """The figures as one line."""
        return (f"{self.label:<10} {self.messages:>7,} msgs {self.size / 1e6:>8.0f} MB "
                f"{self.seconds:>7.1f} s {self.rate:>7.1f} msg/s "
                f"{self.size / 1e6 / self.seconds:>6.1f} MB/s")


def _batches(uids: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(uids), size):
        yield uids[start : start + size]


def bare(server: Server, workdir: Path) -> Result:
    """Fetch, parse and durably commit every INBOX message; nothing else."""
    from foi_mailbot.parsing import parse

    path = workdir / "bare.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE raw_message (uid INTEGER PRIMARY KEY, raw BLOB NOT NULL)")
    client = server.client()
    started = time.perf_counter()
    client.select_folder("INBOX", readonly=True)
    uids = sorted(client.search(["ALL"]))
    count = size = 0
    for batch in _batches(uids, BATCH):
        fetched = client.fetch(batch, ["BODY.PEEK[]"])
        for uid in batch:
            raw = fetched[uid][b"BODY[]"]
            parse(raw)
            db.execute("BEGIN")
            db.execute("INSERT INTO raw_message VALUES (?, ?)", (uid, raw))
            db.execute("COMMIT")
            count, size = count + 1, size + len(raw)
    seconds = time.perf_counter() - started
    client.logout()
    db.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return Result("bare", count, size, seconds)


def _stored_copies(app: Any) -> int:
    from sqlalchemy import func, select

    from foi_mailbot.storage.db import session_scope
    from foi_mailbot.storage.models import SourceCopy

    with session_scope(app.factory) as session:
        return int(session.scalar(select(func.count()).select_from(SourceCopy)) or 0)


def drain(daemon: Any, max_cycles: int = 10_000) -> int:
    """Run daemon cycles until one stores nothing and nothing is pending; returns the cycles."""
    app = daemon.app
    for cycle in range(1, max_cycles + 1):
        before = _stored_copies(app)
        daemon.run_once()
        idle = not app.pipeline.pending(1) and app.outbox.backlog() == 0
        if idle and _stored_copies(app) == before:
            return cycle
    msg = f"the daemon was still busy after {max_cycles} cycles"
    raise RuntimeError(msg)


def _outcome(app: Any) -> dict[str, Any]:
    """What the round did, from the register: messages by kind, acks sent, flagged messages."""
    from sqlalchemy import func, select

    from foi_mailbot.storage.db import session_scope
    from foi_mailbot.storage.models import Case, InboundMessage, OutboxMessage

    with session_scope(app.factory) as session:
        kinds = dict(session.execute(
            select(InboundMessage.kind, func.count()).group_by(InboundMessage.kind)).all())
        inbound = session.scalar(select(func.count()).select_from(InboundMessage)
                                 .where(InboundMessage.direction == "inbound"))
        return {
            "kinds": {str(k): int(v) for k, v in kinds.items()},
            "inbound": int(inbound or 0),
            "cases": int(session.scalar(select(func.count()).select_from(Case)) or 0),
            "outbox_sent": int(session.scalar(select(func.count()).select_from(OutboxMessage)
                                              .where(OutboxMessage.status == "sent")) or 0),
            "needs_person": int(session.scalar(select(func.count()).select_from(InboundMessage)
                                               .where(InboundMessage.needs_person)) or 0),
        }


@dataclass(frozen=True)
class MixClock:
    """The wall clock moved back to the days the mix arrived on: the daemon answers its
    requests as new mail (older mail is held for a person, never acknowledged by itself)."""

    offset: float

    @classmethod
    def at_end_of_mix(cls) -> MixClock:
        """A clock that reads, now, just after the full mix's last arrival."""
        from datetime import UTC, datetime

        return cls((arrival(FULL_SIZE) - datetime.now(UTC)).total_seconds())

    def now(self) -> Any:
        """See `foi_mailbot.clock.Clock`."""
        from datetime import UTC, datetime, timedelta

        return datetime.now(UTC) + timedelta(seconds=self.offset)


def ours_round(server: Server, phases: PhaseTimer, *, profile: bool = False) -> Result:
    """One pass of the daemon over the inbox with a fresh database."""
    import cProfile
    import pstats

    from foi_mailbot.bootstrap import build
    from foi_mailbot.daemon import Daemon

    with tempfile.TemporaryDirectory(prefix="foi-bench-") as tmp:
        transport = InstantTransport()
        app = build(daemon_settings(server, Path(tmp)), with_source=True, transport=transport,
                    clock=MixClock.at_end_of_mix())
        assert app.source is not None
        daemon = Daemon(app, app.source)
        app.warm_up()  # as `foi-mailbot run` does before it touches mail
        profiler = cProfile.Profile() if profile else None
        phases.reset()
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        cycles = drain(daemon)
        if profiler is not None:
            profiler.disable()
        seconds = time.perf_counter() - started
        outcome = _outcome(app)
        size = _inbound_bytes(app)
        app.close()
    forget_closed_engines()
    # What a round left behind, not the garbage awaiting Python's next full collection.
    gc.collect()
    extra = {**outcome, "cycles": cycles, "acks": transport.sent,
             "rss_after": rss_bytes(), "rss_trimmed": trimmed_rss_bytes(),
             "phases": phases.table(seconds), "stages": phases.brief()}
    if profiler is not None:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("cumulative").print_stats("foi_mailbot", 45)
        stats.sort_stats("tottime").print_stats(25)
        extra["profile"] = out.getvalue()
    return Result("ours", outcome["inbound"], size, seconds, extra)


def _inbound_bytes(app: Any) -> int:
    from sqlalchemy import func, select

    from foi_mailbot.storage.db import session_scope
    from foi_mailbot.storage.models import InboundMessage

    with session_scope(app.factory) as session:
        return int(session.scalar(select(func.sum(InboundMessage.size))
                                  .where(InboundMessage.direction == "inbound")) or 0)


def ours_worker(conn: Connection, server: Server) -> None:
    """Child process: run a round of OURS for each request on `conn` until told to stop."""
    quiet_logging()
    phases = PhaseTimer()
    conn.send({"rss_start": rss_bytes()})
    while (command := conn.recv()) != "stop":
        result = ours_round(server, phases, profile=command == "profile")
        result.extra["peak_rss_process"] = peak_rss_bytes()
        conn.send(result)


def restore(server: Server) -> None:
    """Put every processed message back in INBOX (UID MOVE) and drop the Sent folder."""
    client = server.client()
    try:
        for _flags, _delimiter, name in client.list_folders():
            if name.endswith("Processed"):
                client.select_folder(name)
                uids = client.search(["ALL"])
                if uids:
                    client.move(uids, "INBOX")
                client.unselect_folder()
            elif name == "Sent":
                client.delete_folder(name)
    finally:
        client.logout()


def inbox_count(server: Server) -> int:
    """Messages in INBOX now."""
    client = server.client()
    try:
        return int(client.folder_status("INBOX", ["MESSAGES"])[b"MESSAGES"])
    finally:
        client.logout()


class OursProcess:
    """The daemon's rounds in a spawned child, so its memory figures are its own."""

    def __init__(self, server: Server) -> None:
        # The allocator as the Dockerfile and the systemd unit set it (read at process start).
        os.environ.update(PRODUCTION_MALLOC)
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=ours_worker, args=(child, server))
        self._process.start()
        self.rss_start: int = self._conn.recv()["rss_start"]
        # Sampled from here: a sampling thread in the daemon's process would compete with it.
        self._sampler = RssSampler(self._process.pid or 0)

    def round(self, *, profile: bool = False) -> Result:
        """Run one round and wait for its result (its peak RSS, with the worker's, sampled)."""
        self._sampler.reset()
        self._conn.send("profile" if profile else "round")
        result: Result = self._conn.recv()
        result.extra["peak_rss"] = self._sampler.peak
        result.extra["worker_hwm"] = self._sampler.child_hwm
        return result

    def close(self) -> None:
        """Stop the child."""
        self._sampler.stop()
        with contextlib.suppress(OSError):
            self._conn.send("stop")
        self._process.join(timeout=60)
        if self._process.is_alive():
            self._process.kill()


def _mb(value: int) -> str:
    return f"{value / 2**20:.0f} MB"


def report(bares: list[Result], ours: list[Result], rss_start: int, count: int) -> dict[str, Any]:
    """Print the figures and return them for the summary."""
    print("\nper round:")
    for index, result in enumerate(ours):
        partner = bares[index].line() if index < len(bares) else ""
        print(f"  {index + 1}. {result.line()}   | {partner}")
    bare_rate = statistics.median(r.rate for r in bares)
    ours_rate = statistics.median(r.rate for r in ours)
    bare_mb = statistics.median(r.size / 1e6 / r.seconds for r in bares)
    ours_mb = statistics.median(r.size / 1e6 / r.seconds for r in ours)
    ours_seconds = statistics.median(r.seconds for r in ours)
    peak = max(r.extra["peak_rss"] for r in ours)
    after = [r.extra["rss_after"] for r in ours]
    figures = {
        "bare_msgs_per_s": bare_rate, "ours_msgs_per_s": ours_rate, "bare_mb_per_s": bare_mb,
        "ours_mb_per_s": ours_mb, "ratio": ours_rate / bare_rate, "ours_seconds": ours_seconds,
        "peak_rss": peak, "rss_after": after, "rss_start": rss_start,
    }
    first = ours[0].extra
    print("\nwhere OURS spent its time (round 1; stages nest, so shares add up to more than 100%):")
    print(first["phases"])
    print(f"\nOURS did: {first['inbound']:,} inbound messages, {first['cases']:,} cases, "
          f"{first['acks']:,} acknowledgements, {first['needs_person']:,} for a person, "
          f"{first['cycles']} cycles; kinds {first['kinds']}")
    print(f"\nBARE (median of {len(bares)}): {bare_rate:7.1f} msg/s {bare_mb:6.1f} MB/s")
    print(f"OURS (median of {len(ours)}): {ours_rate:7.1f} msg/s {ours_mb:6.1f} MB/s, "
          f"{ours_seconds:.1f} s for {count:,} messages")
    print(f"OURS / BARE: {figures['ratio']:.0%}   (target >= {RATIO_TARGET:.0%})")
    daemon_hwm = ours[-1].extra["peak_rss_process"]
    worker_hwm = max(r.extra["worker_hwm"] for r in ours)
    figures["high_water_bound"] = daemon_hwm + worker_hwm
    print(f"OURS peak RSS, daemon + parsing worker, sampled every 20 ms: {_mb(peak)} "
          f"(target < 200 MB); child at start {_mb(rss_start)}")
    print(f"  exact high-water marks: daemon {_mb(daemon_hwm)} (ru_maxrss), parsing worker "
          f"{_mb(worker_hwm)} (VmHWM); their sum, {_mb(daemon_hwm + worker_hwm)}, bounds the "
          "peak from above (a sampler can miss a spike)")
    print("RSS after each round: " + ", ".join(_mb(a) for a in after))
    print("  the same with free heap given back (malloc_trim): "
          + ", ".join(_mb(r.extra["rss_trimmed"]) for r in ours))
    figures["headline"] = [
        f"BARE {bare_rate:.1f} msg/s ({bare_mb:.1f} MB/s); OURS {ours_rate:.1f} msg/s "
        f"({ours_mb:.1f} MB/s); OURS/BARE {figures['ratio']:.0%} (target >= {RATIO_TARGET:.0%})",
        f"OURS {ours_seconds:.0f} s for {count:,} messages",
        f"OURS peak RSS {_mb(peak)} (target < 200 MB); after each round "
        + ", ".join(_mb(a) for a in after),
    ]
    print("summary: " + json.dumps(figures))
    return figures


def run(count: int, seed: int, rounds: int, bare_runs: int, *, profile: bool,
        cache: Path | None) -> dict[str, Any]:
    """Start Dovecot, seed it, run the rounds, print and return the figures."""
    with Dovecot() as dovecot, tempfile.TemporaryDirectory(prefix="foi-bench-") as tmp:
        server = Server.of(dovecot)
        client = server.client()
        corpus = seed_folder(client, "INBOX", seed, count, cache)
        client.logout()
        print(f"seeded in {corpus.seconds:.0f} s: {corpus.summary()}")
        ours_process = OursProcess(server)
        bares: list[Result] = []
        ours: list[Result] = []
        try:
            for index in range(rounds):
                if index < bare_runs:
                    bares.append(bare(server, Path(tmp)))
                ours.append(ours_process.round())
                left = inbox_count(server)
                restore(server)
                print(f"round {index + 1}: {bares[-1].line() if index < bare_runs else ''} | "
                      f"{ours[-1].line()} | peak RSS {_mb(ours[-1].extra['peak_rss'])}, "
                      f"after {_mb(ours[-1].extra['rss_after'])}, left in INBOX {left}\n"
                      f"  ours: {ours[-1].extra['stages']}", flush=True)
            if profile:
                print(ours_process.round(profile=True).extra["profile"])
                restore(server)
        finally:
            ours_process.close()
        return report(bares, ours, ours_process.rss_start, count)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Parse the options and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, help=f"messages in the mix (default {FULL_SIZE:,})")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="fraction of the full mix, for quick runs (0.05 = 500 messages)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of OURS (memory: 5)")
    parser.add_argument("--bare-runs", type=int, default=3, help="runs of BARE, interleaved")
    parser.add_argument("--profile", action="store_true", help="add a round under cProfile")
    parser.add_argument("--no-cache", action="store_true",
                        help=f"rebuild the mix instead of reusing {CACHE}")
    args = parser.parse_args(argv)
    count = args.messages or max(1, round(FULL_SIZE * args.scale))
    return run(count, args.seed, max(1, args.rounds), max(1, min(args.bare_runs, args.rounds)),
               profile=args.profile, cache=None if args.no_cache else CACHE)


if __name__ == "__main__":
    main()
