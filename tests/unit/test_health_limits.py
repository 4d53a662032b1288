"""The health endpoint under idle and excess connections, and while a server is unreachable."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from foi_mailbot import health
from foi_mailbot.alerts import Alerter
from foi_mailbot.bootstrap import App, build, make_health_server
from foi_mailbot.clock import FixedClock
from foi_mailbot.health import HealthReport, describe, health_report
from foi_mailbot.settings import Settings
from foi_mailbot.storage.state import record


@pytest.fixture
def app(settings: Settings, clock: FixedClock) -> Iterator[App]:
    built = build(settings, clock=clock)
    record(built.factory, clock, "last_sync", {"at": clock.now().isoformat(), "stored": 0})
    yield built
    built.close()


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_an_idle_connection_is_let_go_after_the_read_timeout(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that connects and sends nothing is disconnected; it holds no thread for ever."""
    monkeypatch.setattr(health._Handler, "timeout", 0.5)
    with make_health_server(app, host="127.0.0.1", port=0) as server, \
            socket.create_connection(("127.0.0.1", server.port), timeout=5) as idle:
        started = time.monotonic()
        assert b"" == idle.recv(1024)  # closed by the server
        assert time.monotonic() - started < 4


def test_connections_beyond_the_cap_are_closed_and_service_resumes(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With every slot held by idle clients, one more is closed at once; once they time out,
    /healthz answers again."""
    monkeypatch.setattr(health._Handler, "timeout", 1.0)
    with make_health_server(app, host="127.0.0.1", port=0) as server:
        idle = [socket.create_connection(("127.0.0.1", server.port), timeout=5)
                for _ in range(health.MAX_CONNECTIONS)]
        try:
            time.sleep(0.3)
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as extra:
                extra.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
                assert b"" == extra.recv(1024)
            time.sleep(1.5)
            assert 200 == _get(f"{server.url}/healthz")[0]
        finally:
            for sock in idle:
                sock.close()


def _report(app: App, now: datetime) -> HealthReport:
    return health_report(app.engine, app.factory, app.settings, now)


def test_healthz_says_the_mailbox_cannot_be_reached(app: App, clock: FixedClock) -> None:
    """Failing briefly: said as a warning; failing past alert_after_seconds: unhealthy."""
    Alerter(app.settings, app.factory, clock).failure("mailbox", "cannot connect to imap.example.org")

    brief = _report(app, clock.now())
    assert brief.ok
    assert ["the mailbox (IMAP) cannot be reached (failing for 0 seconds)"] == list(
        brief.warnings)

    later = clock.now() + timedelta(seconds=app.settings.health.alert_after_seconds + 60)
    report = _report(app, later)
    assert not report.ok
    assert any("the mailbox (IMAP) cannot be reached" in r for r in report.reasons)
    assert any("cannot be reached" in line for line in describe(report))
