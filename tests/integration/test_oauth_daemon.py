"""The daemon on OAuth2 end to end: Dovecot and the SMTP server check every token with a real
(loopback) identity provider; tokens expire mid-run, and a client secret is revoked and fixed."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import structlog
from sqlalchemy import select

from foi_mailbot.alerts import Alerter
from foi_mailbot.bootstrap import make_health_server
from foi_mailbot.clock import FixedClock
from foi_mailbot.health import HealthServer, health_report
from foi_mailbot.settings import Settings
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import Case, OutboxMessage
from tests.integration.harness import Harness, fixture_mail
from tests.servers.dovecot import Dovecot
from tests.servers.oauth_endpoint import MAILBOX, IdentityProvider
from tests.servers.smtp_sink import SmtpSink

pytestmark = [pytest.mark.dovecot, pytest.mark.filterwarnings("ignore:Requiring AUTH")]

APP = "11111111-2222-3333-4444-555555555555"
SECRET = "first-secret-value"
OPS = "ops@example.gov.uk"
MONDAY = datetime(2026, 1, 12, 10, 0, tzinfo=UTC)


@dataclass
class OAuthRig:
    """The daemon, its servers, the identity provider and the secret file."""

    h: Harness
    idp: IdentityProvider
    secret_file: Path
    alerter: Alerter

    def request(self, n: int) -> None:
        raw = fixture_mail("new_request_plain_foia.eml", Message_ID=f"<request-{n}@mail.gmail.com>",
                           From=f"Requester {n} <requester{n}@gmail.com>")
        self.h.deliver(raw, at=self.h.clock.now())

    def drop_connections(self) -> None:
        """As when the server restarts or drops idle sessions: every login happens again."""
        assert self.h.app.source is not None
        self.h.app.source.close()

    def alerts(self) -> list[OutboxMessage]:
        with session_scope(self.h.app.factory) as session:
            rows = session.scalars(select(OutboxMessage).where(
                OutboxMessage.to_email == OPS).order_by(OutboxMessage.id)).all()
            session.expunge_all()
            return list(rows)

    def cases(self) -> int:
        with session_scope(self.h.app.factory) as session:
            return len(session.scalars(select(Case)).all())


@pytest.fixture
def rig(
    make_settings: Callable[..., Settings],
    dovecot_factory: Callable[..., Dovecot],
    identity_provider: IdentityProvider,
    tmp_path: Path,
    db_url: str,
) -> Iterator[OAuthRig]:
    """A daemon logging in to both servers with Microsoft-style app-only tokens."""
    identity_provider.register_app(APP, SECRET)
    secret_file = tmp_path / "client_secret"
    secret_file.write_text(SECRET, encoding="utf-8")
    dovecot = dovecot_factory(oauth2_introspection_url=identity_provider.introspection_url)
    sink = SmtpSink(oauth_introspection_url=identity_provider.introspection_url)
    sink.start()
    settings = make_settings(
        db=db_url,
        mailbox={"host": dovecot.host, "port": dovecot.port, "username": MAILBOX,
                 "auth": "xoauth2", "security": "none", "maildir": None,
                 "timeout_seconds": 10.0, "poll_interval_seconds": 1.0},
        smtp={"host": sink.host, "port": sink.port, "security": "none", "auth": "xoauth2",
              "username": MAILBOX, "timeout_seconds": 5.0},
        oauth={"provider": "microsoft", "tenant_id": identity_provider.tenant, "client_id": APP,
               "client_secret_file": str(secret_file), "authority": identity_provider.authority},
        health={"port": 0, "ops_address": OPS},
    )
    h = Harness.start(settings, dovecot, sink, FixedClock(MONDAY))
    alerter = h.app.alerter  # told of every token fetch by the composition root
    assert h.app.oauth is not None
    h.daemon.on_sync = alerter.mailbox_synced
    yield OAuthRig(h, identity_provider, secret_file, alerter)
    h.close()
    sink.stop()


def test_tokens_expiring_mid_run_are_replaced_and_no_message_is_lost_or_doubled(
    rig: OAuthRig,
) -> None:
    """Read, acknowledge and file in Sent across expiries: one token fetch per expiry."""
    rig.request(1)
    rig.h.cycle()
    assert 1 == rig.idp.grants  # IMAP and SMTP share the one token

    rig.idp.expire_all()  # revoked early, as a server-side expiry is seen
    rig.drop_connections()
    rig.request(2)
    rig.h.cycle()
    assert 2 == rig.idp.grants

    rig.h.clock.advance(timedelta(minutes=56))  # within five minutes of the end: fetched anew
    rig.drop_connections()
    rig.request(3)
    rig.h.cycle()
    rig.h.cycle()
    assert 3 == rig.idp.grants

    for n in (1, 2, 3):
        assert 1 == len(rig.h.acks_to(f"requester{n}@gmail.com"))
    assert 3 == rig.cases()
    assert 3 == len(rig.h.dovecot.list_uids("Sent"))
    assert [] == rig.h.dovecot.list_uids("INBOX")


def _healthz(server: HealthServer) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"{server.url}/healthz", timeout=5) as reply:  # noqa: S310
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_a_revoked_secret_is_unhealthy_alerted_once_and_recovers_when_fixed(
    rig: OAuthRig,
) -> None:
    """Entra's own words reach /healthz and the log; one alert; all well after the fix."""
    rig.request(1)
    rig.h.cycle()
    rig.idp.revoke_secret(APP)
    rig.idp.expire_all()
    rig.drop_connections()
    rig.request(2)
    with make_health_server(rig.h.app, port=0) as server, structlog.testing.capture_logs() as logs:
        rig.h.cycle()
        time.sleep(1.2)  # past the reconnect backoff: a second failed attempt
        rig.h.cycle()
        status, text = _healthz(server)
        assert 503 == status
        assert "no OAuth2 token can be had" in text
        assert "AADSTS7000215: Invalid client secret provided" in text
        unavailable = [e for e in logs if e["event"] == "oauth.token_unavailable"]
        assert 1 == len(unavailable)
        assert "AADSTS7000215" in unavailable[0]["error"]
        assert ["alert"] == [row.purpose for row in rig.alerts()]
        alert = message_from_bytes(rig.alerts()[0].raw, policy=policy.default)
        assert "AADSTS7000215" in alert.get_content()

        rig.idp.set_secret(APP, "second-secret-value")
        rig.secret_file.write_text("second-secret-value", encoding="utf-8")
        time.sleep(2.1)  # past the second backoff
        rig.h.clock.advance(timedelta(minutes=30))  # the alert's send retry is due
        rig.h.cycle()
        rig.h.cycle()
        status, text = _healthz(server)
        assert (200, "ok\n") == (status, text)
    assert ["alert", "recovered"] == [row.purpose for row in rig.alerts()]
    assert 1 == len(rig.h.acks_to("requester2@gmail.com"))
    assert 2 == len(rig.h.acks_to(OPS))
    report = health_report(rig.h.app.engine, rig.h.app.factory, rig.h.app.settings, rig.h.clock.now())
    assert report.ok
