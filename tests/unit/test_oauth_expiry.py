"""oauth.secret_expires: a warning in `status` and the digest, one alert mail 30 days ahead."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import select

from foi_mailbot.alerts import Alerter
from foi_mailbot.bootstrap import App, build
from foi_mailbot.clock import FixedClock
from foi_mailbot.health import describe, health_report
from foi_mailbot.oauth.expiry import secret_expiry_warning
from foi_mailbot.settings import OAuthSettings, Settings
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import OutboxMessage

OPS = "ops@example.gov.uk"


def _oauth(ends: date) -> OAuthSettings:
    return OAuthSettings(provider="microsoft", tenant_id="t", client_id="c",
                         client_secret_file=Path("/run/secrets/x"), secret_expires=ends)


def test_no_warning_more_than_thirty_days_ahead() -> None:
    """31 days before the end says nothing; 30 days before says the date and what to do."""
    assert secret_expiry_warning(_oauth(date(2027, 6, 30)), date(2027, 5, 30)) is None
    warning = secret_expiry_warning(_oauth(date(2027, 6, 30)), date(2027, 5, 31))
    assert warning is not None
    assert "client secret expires on 2027-06-30 (in 30 days)" in warning
    assert "oauth.secret_expires" in warning


def test_an_ended_secret_is_said_to_have_expired() -> None:
    """After the date the warning says it has ended."""
    warning = secret_expiry_warning(_oauth(date(2027, 6, 30)), date(2027, 7, 2))
    assert warning is not None
    assert "expired on 2027-06-30" in warning


@pytest.fixture
def app(make_settings: Callable[..., Settings], tmp_path: Path,
        clock: FixedClock) -> Iterator[App]:
    """An app whose secret ends 20 days after the test clock's Monday 5 January 2026."""
    built = build(make_settings(
        db=f"sqlite:///{tmp_path / 'a.db'}", health={"ops_address": OPS},
        oauth={"provider": "microsoft", "tenant_id": "t", "client_id": "c",
               "client_secret_file": str(tmp_path / "secret"), "secret_expires": "2026-01-25"}),
        clock=clock)
    yield built
    built.close()


def test_one_alert_however_many_days_it_is_checked(app: App, clock: FixedClock) -> None:
    """Checked every cycle of every day, the alert goes once (its key is the end date)."""
    alerter = Alerter(app.settings, app.factory, clock)
    for _ in range(3):
        alerter.check_secret_expiry()
        alerter.check_secret_expiry()
        clock.advance(timedelta(days=1))
    with session_scope(app.factory) as session:
        rows = session.scalars(select(OutboxMessage)).all()
        assert [("alert", OPS)] == [(row.purpose, row.to_email) for row in rows]
        body = message_from_bytes(rows[0].raw, policy=policy.default).get_content()
        assert "expires on 2026-01-25 (in 20 days)" in body


def test_status_warns_but_stays_healthy(app: App, clock: FixedClock) -> None:
    """A secret about to end is a warning line, not a reason to be unwell."""
    from foi_mailbot.storage.state import record

    record(app.factory, clock, "last_sync", {"at": clock.now().isoformat(), "stored": 0})
    report = health_report(app.engine, app.factory, app.settings, clock.now())
    assert report.ok
    assert any(line.startswith("Warning: the OAuth2 client secret expires on 2026-01-25")
               for line in describe(report))
