"""The health endpoint, the Prometheus figures and `foi-mailbot status`, on real mail and HTTP."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine
from structlog.testing import capture_logs
from typer.testing import CliRunner

import foi_mailbot.cli.ops  # noqa: F401 - registers `status` and `purge`
from foi_mailbot.bootstrap import App, build, make_health_server
from foi_mailbot.cli.common import app as cli
from foi_mailbot.clock import FixedClock
from foi_mailbot.health import HealthServer, health_report
from foi_mailbot.ingest import store
from foi_mailbot.leader import acquire_leadership
from foi_mailbot.metrics import count_error, make_registry, render_metrics
from foi_mailbot.settings import Settings, load_settings
from foi_mailbot.sources import RawMail
from foi_mailbot.storage.state import record
from tests.conftest import FIXTURES

REQUESTS = ("new_request_plain_foia.eml", "new_request_journalist.eml",
            "new_request_environmental_trees.eml")


def _deliver(app: App, *names: str) -> None:
    """Store fixture messages as the mailbox would hand them over, process and send."""
    for i, name in enumerate(names):
        raw = (FIXTURES / name).read_bytes()
        store(app.factory, RawMail(f"test:{i}:{name}", "foi@example.gov.uk", "INBOX", 1, i + 1,
                                   app.clock.now(), raw, "inbound"), app.clock)
    app.pipeline.run_pending()
    app.outbox.send_due()


def _synced(app: App, ago: timedelta = timedelta(0), stored: int = 0) -> None:
    clock = FixedClock(app.clock.now() - ago)
    record(app.factory, clock, "last_sync", {"at": clock.now().isoformat(), "stored": stored})


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def _figures(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture
def app(settings: Settings, clock: FixedClock) -> Iterator[App]:
    """An application on the parametrised database, with the test clock."""
    built = build(settings, clock=clock)
    yield built
    built.close()


@pytest.fixture
def server(app: App) -> Iterator[HealthServer]:
    """The health endpoint on a free loopback port."""
    with make_health_server(app, host="127.0.0.1", port=0) as running:
        yield running


def test_healthz_is_ok_while_the_mailbox_was_synced_recently(
    app: App, server: HealthServer
) -> None:
    """A recent sync and a database that answers give 200 and "ok"."""
    _synced(app, timedelta(minutes=3))

    status, content_type, body = _get(f"{server.url}/healthz")

    assert (200, "ok\n") == (status, body)
    assert content_type.startswith("text/plain")
    assert server.port != 0


def test_healthz_says_in_words_that_the_last_sync_is_too_old(
    app: App, server: HealthServer
) -> None:
    """A sync older than stale_after_seconds gives 503 and says how old it is."""
    _synced(app, timedelta(minutes=20))

    status, _, body = _get(f"{server.url}/healthz")

    assert 503 == status
    assert "the mailbox was last synced 20 minutes ago, more than the allowed 15 minutes" in body


def test_healthz_is_unavailable_before_the_first_sync(app: App, server: HealthServer) -> None:
    """Until the daemon has synced once, the service is not yet healthy."""
    status, _, body = _get(f"{server.url}/healthz")

    assert (503, "the mailbox has not been synced yet\n") == (status, body)


def test_a_database_that_does_not_answer_is_unhealthy(app: App, clock: FixedClock) -> None:
    """With the database unreachable the report says so, whatever the last sync was."""
    _synced(app)
    unreachable = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none",
                                connect_args={"connect_timeout": 5})
    report = health_report(unreachable, app.factory, app.settings, clock.now())

    assert not report.ok
    assert ("the database does not answer",) == report.reasons


def test_metrics_count_what_happened_from_the_database(app: App, server: HealthServer) -> None:
    """Messages by kind, cases, acknowledgements, errors and the last sync are all exposed."""
    _deliver(app, *REQUESTS)
    _synced(app, stored=3)
    count_error(app.factory, app.clock, "smtp")

    status, content_type, body = _get(f"{server.url}/metrics")
    figures = _figures(body)

    assert 200 == status
    assert content_type.startswith("text/plain; version=0.0.4")
    assert 3 == sum(v for (name, _), v in figures.items() if name == "foi_mailbot_messages_total")
    assert 3 == figures[("foi_mailbot_cases_opened_total", ())]
    assert 3 == figures[("foi_mailbot_acknowledgements_sent_total", ())]
    assert 0 == figures[("foi_mailbot_reminders_sent_total", ())]
    assert 1 == figures[("foi_mailbot_errors_total", (("where", "smtp"),))]
    assert 0 == figures[("foi_mailbot_outbox_backlog", ())]
    assert 0 == figures[("foi_mailbot_needs_person", ())]
    assert app.clock.now().timestamp() == figures[("foi_mailbot_last_sync_timestamp_seconds", ())]


def test_metrics_survive_a_restart(settings: Settings, clock: FixedClock) -> None:
    """A second process on the same database reports the same counters."""
    first = build(settings, clock=clock)
    _deliver(first, *REQUESTS[:2])
    before = _figures(render_metrics(make_registry(first.factory)).decode())
    first.close()

    second = build(settings, clock=clock)
    after = _figures(render_metrics(make_registry(second.factory)).decode())
    second.close()

    assert before == after
    assert 2 == after[("foi_mailbot_cases_opened_total", ())]


def test_metrics_use_a_private_registry(app: App) -> None:
    """Nothing is registered in prometheus_client's global registry."""
    from prometheus_client import REGISTRY

    render_metrics(make_registry(app.factory))

    assert not any(n.startswith("foi_mailbot") for n in REGISTRY._names_to_collectors)


def test_unknown_paths_are_not_found(server: HealthServer) -> None:
    """Only /healthz and /metrics exist."""
    assert 404 == _get(f"{server.url}/admin")[0]


def test_requests_are_logged_with_the_path_only(app: App, server: HealthServer) -> None:
    """A request's query string never reaches the log."""
    _synced(app)
    with capture_logs() as logs:
        _get(f"{server.url}/healthz?token=abc")

    requests = [e for e in logs if e["event"] == "health.request"]
    assert [("/healthz", 200)] == [(e["path"], e["status"]) for e in requests]
    assert "abc" not in repr(logs)


def test_the_server_binds_loopback_by_default(make_settings: Callable[..., Settings],
                                             tmp_path: Path) -> None:
    """Without a configured host the endpoint listens on 127.0.0.1 only."""
    built = build(make_settings(db=f"sqlite:///{tmp_path / 'h.db'}"))
    with make_health_server(built) as running:
        assert running.url.startswith("http://127.0.0.1:")
        assert 200 == _get(f"{running.url}/metrics")[0]
    built.close()


def _config(tmp_path: Path, db: str) -> Path:
    path = tmp_path / "foi-mailbot.toml"
    path.write_text(
        f'[organisation]\nreference_secret = "s"\n[paths]\ndata_dir = "{tmp_path / "data"}"\n'
        f'[database]\nurl = "{db}"\n',
        encoding="utf-8",
    )
    return path


def test_status_prints_the_same_report_in_words(tmp_path: Path) -> None:
    """`foi-mailbot status` says healthy or not, why, and the figures behind it."""
    db = f"sqlite:///{tmp_path / 's.db'}"
    config = _config(tmp_path, db)
    runner = CliRunner()

    app = build(load_settings(config))
    with acquire_leadership(app.engine, stop=threading.Event()):  # as the daemon does
        never = runner.invoke(cli, ["status", "--config", str(config)])
        _synced(app, stored=4)
        healthy = runner.invoke(cli, ["status", "--config", str(config)])
    app.close()

    assert 1 == never.exit_code
    assert "the mailbox has not been synced yet" in never.output
    assert 0 == healthy.exit_code, healthy.output
    assert healthy.output.startswith("Healthy.\n")
    assert "Last mailbox sync: " in healthy.output and "4 new messages" in healthy.output
    for words in ("Outbox backlog: 0", "Needing a person: 0", "Open cases: 0",
                  "Errors reaching servers so far: none"):
        assert words in healthy.output


def test_status_says_no_daemon_is_running_when_none_holds_the_register(tmp_path: Path) -> None:
    """Recent figures left by a stopped daemon are not health: nobody is watching the mailbox."""
    config = _config(tmp_path, f"sqlite:///{tmp_path / 's.db'}")
    app = build(load_settings(config))
    _synced(app, stored=4)
    app.close()

    stopped = CliRunner().invoke(cli, ["--config", str(config), "status"])

    assert 1 == stopped.exit_code
    assert stopped.output.startswith("Not healthy:\n  - no foi-mailbot daemon is running")
    assert "Last mailbox sync: " in stopped.output


def test_status_sees_a_daemon_on_postgresql_by_its_lock(pg_url: str, tmp_path: Path) -> None:
    """On PostgreSQL the running daemon is the session holding the register's advisory lock."""
    config = _config(tmp_path, pg_url)
    app = build(load_settings(config))
    _synced(app, stored=1)

    with acquire_leadership(app.engine, stop=threading.Event()):
        running = CliRunner().invoke(cli, ["status", "--config", str(config)])
    stopped = CliRunner().invoke(cli, ["status", "--config", str(config)])
    app.close()

    assert 0 == running.exit_code, running.output
    assert "no foi-mailbot daemon is running" in stopped.output
