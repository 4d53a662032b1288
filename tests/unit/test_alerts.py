"""Operations alerts: one email per outage and one when it ends, however many retries between."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from foi_mailbot.alerts import Alerter
from foi_mailbot.bootstrap import App, build
from foi_mailbot.clock import FixedClock
from foi_mailbot.ingest import store
from foi_mailbot.metrics import read_figures
from foi_mailbot.settings import Settings
from foi_mailbot.sources import RawMail
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import OutboxMessage
from tests.conftest import FIXTURES
from tests.servers.smtp_sink import SmtpSink

OPS = "ops@example.gov.uk"


def _outbox(app: App) -> list[tuple[str, str, str]]:
    with session_scope(app.factory) as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        return [(row.purpose, row.key, row.to_email) for row in rows]


def _fail_for(alerter: Alerter, clock: FixedClock, component: str, minutes: int) -> None:
    """One failed attempt a minute, as the daemon's retries would report them."""
    for _ in range(minutes):
        alerter.failure(component, "could not connect to imap.example.gov.uk: refused")
        clock.advance(timedelta(minutes=1))


@pytest.fixture
def app(make_settings: Callable[..., Settings], tmp_path: Path,
        clock: FixedClock) -> Iterator[App]:
    """An application with an operations address and a 15-minute alert threshold."""
    built = build(make_settings(db=f"sqlite:///{tmp_path / 'a.db'}",
                                health={"ops_address": OPS, "alert_after_seconds": 900}),
                  clock=clock)
    yield built
    built.close()


def test_a_short_failure_sends_nothing(app: App, clock: FixedClock) -> None:
    """Failing for less than the threshold and then recovering is not worth an email."""
    alerter = Alerter(app.settings, app.factory, clock)
    _fail_for(alerter, clock, "mailbox", 10)
    alerter.success("mailbox")

    assert [] == _outbox(app)


def test_one_alert_after_the_threshold_not_one_per_retry(app: App, clock: FixedClock) -> None:
    """Thirty failed attempts over thirty minutes queue exactly one alert to the ops address."""
    started = clock.now()
    alerter = Alerter(app.settings, app.factory, clock)
    _fail_for(alerter, clock, "mailbox", 30)

    assert [("alert", f"alert:mailbox:{started.isoformat()}", OPS)] == _outbox(app)


def test_one_recovered_email_when_it_works_again(app: App, clock: FixedClock) -> None:
    """The first success after an alert queues one "recovered" email; later ones nothing."""
    started = clock.now()
    alerter = Alerter(app.settings, app.factory, clock)
    _fail_for(alerter, clock, "mailbox", 20)
    alerter.success("mailbox")
    alerter.success("mailbox")

    assert ["alert", "recovered"] == [purpose for purpose, _, _ in _outbox(app)]
    assert f"recovered:mailbox:{started.isoformat()}" == _outbox(app)[1][1]


def test_a_restart_neither_forgets_nor_repeats_the_alert(
    app: App, clock: FixedClock
) -> None:
    """A new process continues the outage it finds recorded: no second alert, one recovery."""
    _fail_for(Alerter(app.settings, app.factory, clock), clock, "mailbox", 20)
    restarted = build(app.settings, clock=clock)
    alerter = Alerter(restarted.settings, restarted.factory, clock)
    _fail_for(alerter, clock, "mailbox", 20)
    alerter.success("mailbox")
    restarted.close()

    assert ["alert", "recovered"] == [purpose for purpose, _, _ in _outbox(app)]


def test_a_second_outage_alerts_again(app: App, clock: FixedClock) -> None:
    """After a recovery, the next long outage gets its own alert."""
    alerter = Alerter(app.settings, app.factory, clock)
    _fail_for(alerter, clock, "mailbox", 20)
    alerter.success("mailbox")
    _fail_for(alerter, clock, "mailbox", 20)

    assert ["alert", "recovered", "alert"] == [purpose for purpose, _, _ in _outbox(app)]


def test_the_alert_says_what_failed_in_words(app: App, clock: FixedClock) -> None:
    """The email names the component, when it started and the last error."""
    _fail_for(Alerter(app.settings, app.factory, clock), clock, "mailbox", 16)
    with session_scope(app.factory) as session:
        raw = session.scalars(select(OutboxMessage.raw)).one()

    message = message_from_bytes(raw, _class=EmailMessage, policy=policy.default)
    body = message.get_content().replace("\r\n", "\n")
    assert ("foi-mailbot cannot reach the mailbox (IMAP) since Monday 5 January 2026 09:00 GMT"
            == message["Subject"])
    assert OPS == message["To"]
    assert "The last error was:\n  could not connect to imap.example.gov.uk: refused" in body
    assert "auto-replied" == message["Auto-Submitted"]


def test_without_an_ops_address_the_outage_is_logged_once(
    make_settings: Callable[..., Settings], tmp_path: Path, clock: FixedClock
) -> None:
    """No address: nothing is queued and the alert is one log line, not one per retry."""
    app = build(make_settings(db=f"sqlite:///{tmp_path / 'n.db'}"), clock=clock)
    with capture_logs() as logs:
        _fail_for(Alerter(app.settings, app.factory, clock), clock, "mailbox", 30)

    assert [] == _outbox(app)
    raised = [e for e in logs if e["event"] == "alert.raised"]
    assert 1 == len(raised)
    assert raised[0]["emailed"] is False
    app.close()


def test_every_failed_attempt_is_counted_for_metrics(app: App, clock: FixedClock) -> None:
    """errors_total{where} counts each attempt, across outages and restarts."""
    _fail_for(Alerter(app.settings, app.factory, clock), clock, "mailbox", 3)
    _fail_for(Alerter(app.settings, app.factory, clock), clock, "smtp", 2)
    with session_scope(app.factory) as session:
        figures = read_figures(session)

    assert {"mailbox": 3, "smtp": 2} == dict(figures.errors)


def test_an_smtp_outage_alerts_once_and_the_alert_goes_out_on_recovery(
    make_settings: Callable[..., Settings], tmp_path: Path, clock: FixedClock,
    smtp_sink: SmtpSink,
) -> None:
    """With the mail server down the alert waits in the outbox; both emails go when it returns."""
    settings = make_settings(
        db=f"sqlite:///{tmp_path / 's.db'}",
        health={"ops_address": OPS, "alert_after_seconds": 900},
        smtp={"host": smtp_sink.host, "port": smtp_sink.port, "security": "none",
              "timeout_seconds": 5},
    )
    app = build(settings, clock=clock)
    raw = (FIXTURES / "new_request_plain_foia.eml").read_bytes()
    store(app.factory, RawMail("test:1", "foi@example.gov.uk", "INBOX", 1, 1, clock.now(), raw,
                               "inbound"), clock)
    app.pipeline.run_pending()
    smtp_sink.stop()
    for _ in range(8):
        app.outbox.send_due()
        clock.advance(timedelta(minutes=5))
    queued = [purpose for purpose, _, _ in _outbox(app)]

    smtp_sink.start()
    for _ in range(3):
        app.outbox.send_due()
        clock.advance(timedelta(minutes=31))
    app.close()

    assert ["acknowledgement", "alert"] == queued
    subjects = sorted(str(d.message["Subject"]) for d in smtp_sink.wait_for(3))
    assert 3 == len(smtp_sink.messages)
    assert any(s.startswith("foi-mailbot cannot reach the outgoing mail server (SMTP)")
               for s in subjects)
    assert any(s.startswith("foi-mailbot reaches the outgoing mail server (SMTP) again")
               for s in subjects)
