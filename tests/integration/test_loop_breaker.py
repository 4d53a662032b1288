"""The per-domain loop breaker against a responder that writes from a new address each time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from foi_mailbot.bootstrap import App, build
from foi_mailbot.cli import app as cli
from foi_mailbot.clock import FixedClock
from foi_mailbot.ingest import store
from foi_mailbot.settings import Settings
from foi_mailbot.sources import RawMail
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import InboundMessage, OutboxMessage
from tests.integration.harness import fixture_mail

START = datetime(2026, 1, 12, 10, 0, tzinfo=UTC)
DOMAIN = "servicedesk.acme-facilities.example"
OPS = "ops@example.gov.uk"


@pytest.fixture
def settings_(make_settings: Callable[..., Settings], db_url: str) -> Settings:
    return make_settings(db=db_url, health={"port": 0, "ops_address": OPS})


def _feed(app: App, clock: FixedClock, raw: bytes, key: str, at: datetime) -> InboundMessage:
    clock.set(at + timedelta(seconds=5))  # our letter is queued seconds after the mail arrives
    stored = store(app.factory, RawMail(f"test:{key}", "foi@example.gov.uk", "INBOX", None, None,
                                        at, raw, "inbound"), app.clock)
    app.pipeline.run_pending()
    with session_scope(app.factory) as session:
        row = session.get(InboundMessage, stored.message_pk)
        assert row is not None
        session.expunge(row)
        return row


def _letters(app: App) -> list[tuple[str, str]]:
    with session_scope(app.factory) as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        return [(r.to_email, r.purpose) for r in rows]


def _responder(n: int) -> bytes:
    return fixture_mail("trust/helpdesk_unrecognised_reply.eml",
                        From=f"ACME Facilities <support+{n}@{DOMAIN}>",
                        Message_ID=f"<note-{n}@{DOMAIN}>", Subject=f"Your note {n}")


def test_a_responder_writing_from_a_new_address_each_time_is_stopped_with_one_alert(
    settings_: Settings, tmp_path: Path
) -> None:
    """Each answer within a minute of our letter, from a new address: after the limit no more
    letters go to the domain, each further message is flagged, one alert goes to ops; a
    person resumes the domain from the command line."""
    clock = FixedClock(START)
    app = build(settings_, clock=clock)
    first = fixture_mail("new_request_plain_foia.eml", From=f"Ann Lee <ann.lee@{DOMAIN}>")
    _feed(app, clock, first, "request", START)

    rows = [_feed(app, clock, _responder(n), f"r{n}", START + timedelta(minutes=n))
            for n in range(1, 8)]

    letters = _letters(app)
    to_domain = [to for to, purpose in letters if to.endswith(DOMAIN)]
    alerts = [to for to, purpose in letters if purpose == "alert"]
    assert 1 + settings_.replies.loop_breaker_letters == len(to_domain)
    assert [OPS] == alerts
    stopped = rows[settings_.replies.loop_breaker_letters:]
    assert all(r.needs_person and "stopped" in (r.attention_reason or "") for r in stopped)

    config = tmp_path / "c.toml"
    config.write_text(f'[database]\nurl = "{settings_.database.resolved_url(settings_.paths)}"\n'
                      f'[paths]\ndata_dir = "{settings_.paths.data_dir}"\n'
                      '[organisation]\nreference_secret = "test-secret-for-the-cli"\n')
    result = CliRunner().invoke(cli, ["resume-replies", DOMAIN, "--config", str(config)])
    assert 0 == result.exit_code, result.output
    assert f"Automatic letters to {DOMAIN} resume." in result.output
    _feed(app, clock, _responder(99), "r99", START + timedelta(hours=3))
    assert len(to_domain) + 1 == len([to for to, _p in _letters(app) if to.endswith(DOMAIN)])


def test_twenty_requests_from_twenty_gmail_addresses_are_all_acknowledged(
    settings_: Settings,
) -> None:
    """A shared freemail domain is exempt: every person there is answered."""
    clock = FixedClock(START)
    app = build(settings_, clock=clock)
    for n in range(20):
        raw = fixture_mail("new_request_plain_foia.eml", From=f"Person {n} <person{n}@gmail.com>",
                           Message_ID=f"<req-{n}@mail.gmail.com>",
                           Subject=f"FOI request about parking zone {n}")
        _feed(app, clock, raw, f"g{n}", START + timedelta(seconds=30 * n))

    letters = _letters(app)
    assert 20 == len({to for to, purpose in letters if purpose == "acknowledgement"})
    assert not [to for to, purpose in letters if purpose == "alert"]


def test_a_letter_held_for_a_person_never_trips_the_breaker(settings_: Settings) -> None:
    """The answer that would be one too many arrives as history (held for a person to
    confirm, nothing sent): the domain is not stopped and no alert goes; the next answer
    that would have been sent trips it."""
    clock = FixedClock(START)
    app = build(settings_, clock=clock)
    first = fixture_mail("new_request_plain_foia.eml", From=f"Ann Lee <ann.lee@{DOMAIN}>")
    _feed(app, clock, first, "request", START)
    limit = settings_.replies.loop_breaker_letters
    for n in range(1, limit + 1):
        _feed(app, clock, _responder(n), f"r{n}", START + timedelta(minutes=n))

    at = START + timedelta(minutes=limit + 1)
    clock.set(at + timedelta(seconds=5))
    held = RawMail("test:held", "foi@example.gov.uk", "INBOX", None, None, at,
                   _responder(limit + 1), "inbound", history=True)
    store(app.factory, held, app.clock)
    app.pipeline.run_pending()
    assert not [to for to, purpose in _letters(app) if purpose == "alert"]

    _feed(app, clock, _responder(limit + 2), "next", at + timedelta(minutes=1))
    assert [OPS] == [to for to, purpose in _letters(app) if purpose == "alert"]
