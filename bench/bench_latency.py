"""Benchmark: arrival to acknowledgement, one new request at a time, with the daemon in IDLE.

Starts a private Dovecot and an SMTP sink, runs `Daemon.run()` in a thread of this process
(real `ImapSource` in IDLE, `SmtpTransport` to the sink, SQLite, acknowledgements copied to
Sent), then delivers new requests one at a time: wait until the daemon is back in IDLE, APPEND
the request into INBOX, and wait for its acknowledgement at the sink. The latency is from the
APPEND's completion (the message is in the mailbox) to the sink accepting the acknowledgement.
Each is split at the moment the daemon's wait returned: before that is the server's IDLE
notification (Dovecot's floor is 0.5 s), after it is the daemon's own cycle.

    .venv/bin/python -m bench.bench_latency [--requests 200] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.harness import PhaseTimer, Server, daemon_settings, quiet_logging
from bench.mailtext import APPLICANT_DOMAINS
from bench.seed import new_request
from tests.servers.dovecot import Dovecot
from tests.servers.smtp_sink import SinkHandler, SmtpSink

WARM_UP = 3
TIMEOUT = 15.0


class TimedHandler(SinkHandler):
    """The sink's handler, also noting when each message was accepted."""

    def __init__(self) -> None:
        super().__init__()
        self.accepted: list[float] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        """See `SinkHandler.handle_DATA`; records the time of acceptance."""
        reply = await super().handle_DATA(server, session, envelope)
        self.accepted.append(time.perf_counter())
        return reply


class WakeLog:
    """Wraps the source's `wait` to note when the daemon woke and when it went back to wait."""

    def __init__(self, source: Any) -> None:
        self.woke: list[float] = []
        self._source = source
        self._wait = source.wait
        source.wait = self._timed_wait

    def _timed_wait(self, timeout: float, stop: threading.Event) -> None:
        try:
            self._wait(timeout, stop)
        finally:
            self.woke.append(time.perf_counter())

    def woke_after(self, instant: float) -> float | None:
        """The first wake-up after `instant`."""
        return next((t for t in self.woke if t >= instant), None)

    def waiting(self) -> bool:
        """True while the daemon is in IDLE on the inbox."""
        return self._source.idling_since is not None


def _until(condition: Any, what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            msg = f"timed out after {timeout} s waiting for {what}"
            raise TimeoutError(msg)
        time.sleep(0.002)


def percentile(values: list[float], share: float) -> float:
    """The value below which `share` of the values lie (nearest rank)."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))
    return ordered[rank]


def _describe(label: str, values: list[float]) -> str:
    return (f"{label:<28} p50 {percentile(values, 0.5) * 1e3:7.1f} ms   p90 "
            f"{percentile(values, 0.9) * 1e3:7.1f} ms   p99 {percentile(values, 0.99) * 1e3:7.1f} "
            f"ms   max {max(values) * 1e3:7.1f} ms   mean {statistics.fmean(values) * 1e3:7.1f} ms")


def measure(server: Server, sink: SmtpSink, handler: TimedHandler, data_dir: Path,
            requests: int, seed: int) -> dict[str, list[float]]:
    """Run the daemon in a thread and time `requests` deliveries (after a short warm-up)."""
    from foi_mailbot.bootstrap import build
    from foi_mailbot.daemon import Daemon
    from foi_mailbot.settings import RepliesSettings

    # One request after each acknowledgement, many from one newsroom's domain: the rhythm the
    # loop breaker stops. The mix's applicants are people, so their domains are exempt here.
    exempt = [*RepliesSettings().loop_breaker_exempt_domains, *APPLICANT_DOMAINS]
    settings = daemon_settings(server, data_dir, smtp={
        "host": sink.host, "port": sink.port, "security": "none", "timeout_seconds": 10.0},
        replies={"loop_breaker_exempt_domains": sorted(set(exempt))})
    app = build(settings, with_source=True)
    assert app.source is not None
    wakes = WakeLog(app.source)
    daemon = Daemon(app, app.source)
    phases = PhaseTimer()
    thread = threading.Thread(target=daemon.run, name="daemon", daemon=True)
    thread.start()
    client = server.client()
    figures: dict[str, list[float]] = {"total": [], "notify": [], "cycle": [], "append": []}
    try:
        for index in range(WARM_UP + requests):
            if index == WARM_UP:
                phases.reset()
            _until(wakes.waiting, "the daemon to enter IDLE")
            raw = new_request(seed, index)
            before = time.perf_counter()
            client.append("INBOX", raw)
            delivered = time.perf_counter()
            _until(lambda n=index + 1: len(handler.accepted) >= n, "the acknowledgement")
            accepted = handler.accepted[index]
            woke = wakes.woke_after(delivered) or delivered
            if index >= WARM_UP:
                figures["total"].append(accepted - delivered)
                figures["notify"].append(woke - delivered)
                figures["cycle"].append(accepted - woke)
                figures["append"].append(delivered - before)
    finally:
        client.logout()
        daemon.stop.set()
        thread.join(timeout=30)
        app.close()
    print("\nwhere the daemon's own time went (all cycles):")
    print(phases.table(sum(figures["cycle"]) or 1.0))
    return figures


def run(requests: int, seed: int) -> dict[str, Any]:
    """Start the servers, measure, print and return the percentiles."""
    quiet_logging()
    handler = TimedHandler()
    with Dovecot() as dovecot, tempfile.TemporaryDirectory(prefix="foi-bench-") as tmp:
        sink = SmtpSink()
        sink.handler = handler
        with sink:
            figures = measure(Server.of(dovecot), sink, handler, Path(tmp), requests, seed)
    print(f"\n{requests} new requests, one at a time, daemon in IDLE "
          f"(after {WARM_UP} not counted):")
    print(_describe("delivered -> ack accepted", figures["total"]))
    print(_describe("  delivered -> daemon woke", figures["notify"]))
    print(_describe("  daemon woke -> ack accepted", figures["cycle"]))
    print(_describe("(APPEND itself)", figures["append"]))
    p50, p99 = percentile(figures["total"], 0.5), percentile(figures["total"], 0.99)
    print(f"targets: p50 < 0.6 s ({'met' if p50 < 0.6 else 'MISSED'}), "
          f"p99 < 1.0 s ({'met' if p99 < 1.0 else 'MISSED'})")
    summary: dict[str, Any] = {
        name: {"p50": percentile(v, 0.5), "p90": percentile(v, 0.9),
               "p99": percentile(v, 0.99), "max": max(v)} for name, v in figures.items()}
    summary["headline"] = [
        _describe("delivered -> ack accepted", figures["total"]),
        _describe("  of which daemon's cycle", figures["cycle"]),
        "targets: p50 < 0.6 s, p99 < 1.0 s",
    ]
    print("summary: " + json.dumps(summary))
    return summary


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Parse the options and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    return run(max(1, args.requests), args.seed)


if __name__ == "__main__":
    main()
