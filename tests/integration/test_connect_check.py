"""`check-config --connect` against real servers, and the daemon finding Sent by its flag.

Dovecot here keeps its Sent folder as Exchange does, under "Sent Items" flagged `\\Sent`
(SPECIAL-USE), while the configuration says "Sent" (the default)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from foi_mailbot.cli import app as cli
from foi_mailbot.cli.connect import check_connections
from foi_mailbot.clock import FixedClock
from foi_mailbot.health import describe, health_report
from foi_mailbot.settings import Settings
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import InboundMessage
from tests.integration.harness import Harness, fixture_mail, imap_settings
from tests.servers.dovecot import Dovecot
from tests.servers.oauth_endpoint import MAILBOX, IdentityProvider
from tests.servers.smtp_sink import SmtpSink

pytestmark = [pytest.mark.dovecot, pytest.mark.filterwarnings("ignore:Requiring AUTH")]

MONDAY = datetime(2026, 1, 12, 10, 0, tzinfo=UTC)
APP = "11111111-2222-3333-4444-555555555555"


@pytest.fixture
def exchange_like(dovecot_factory: Callable[..., Dovecot]) -> Dovecot:
    """A mailbox whose Sent folder is "Sent Items", flagged \\Sent."""
    server = dovecot_factory(sent_folder="Sent Items")
    server.create_folder("Sent Items")
    return server


def _toml(tmp_path: Path, dovecot: Dovecot, sink: SmtpSink, **extra: dict[str, Any]) -> Path:
    sections: dict[str, dict[str, Any]] = {
        "organisation": {"reference_secret": "a-real-secret-for-tests",
                         "mailbox_address": MAILBOX},
        "paths": {"data_dir": str(tmp_path / "data")},
        "mailbox": {"host": dovecot.host, "port": dovecot.port, "username": dovecot.user,
                    "password": dovecot.password, "security": "none",
                    "timeout_seconds": 10.0},
        "smtp": {"host": sink.host, "port": sink.port, "security": "none"},
    }
    for name, values in extra.items():
        sections[name] = {**sections.get(name, {}), **values}
    lines = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        for key, value in values.items():
            shown = f'"{value}"' if isinstance(value, str) else str(value).lower() \
                if isinstance(value, bool) else str(value)
            lines.append(f"{key} = {shown}")
    path = tmp_path / "foi-mailbot.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_connect_names_the_sent_folder_flagged_by_the_server(
    exchange_like: Dovecot, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """One line each: login, inbox, Sent (with the right name), processed, IDLE, SMTP, From."""
    result = CliRunner().invoke(cli, ["check-config", "--connect", "--config",
                                      str(_toml(tmp_path, exchange_like, smtp_sink))])
    lines = result.output.splitlines()
    assert 0 == result.exit_code, result.output
    assert "Configuration and templates are valid." == lines[0]
    assert f"ok: mailbox login: {MAILBOX} at 127.0.0.1 (password)" == lines[1]
    assert "ok: inbox: 'INBOX' (0 messages)" == lines[2]
    assert lines[3].startswith("warning: sent folder: 'Sent' does not exist; the server flags "
                               "'Sent Items' as the Sent folder: set mailbox.sent_folder = "
                               '"Sent Items"')
    assert lines[4].startswith("warning: processed folder: 'FOI/Processed' does not exist")
    assert "ok: IDLE: supported: new mail is seen at once" == lines[5]
    assert lines[6].startswith("ok: smtp login: 127.0.0.1:")
    assert lines[7].startswith(f"ok: from address: {MAILBOX} taken for MAIL FROM")
    assert [] == smtp_sink.messages  # nothing sent without --send-test


def test_create_folders_makes_the_processed_folder(
    exchange_like: Dovecot, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """--create-folders creates what the daemon would move mail to."""
    config = _toml(tmp_path, exchange_like, smtp_sink, mailbox={"sent_folder": "Sent Items"})
    result = CliRunner().invoke(cli, ["check-config", "--connect", "--create-folders",
                                      "--config", str(config)])
    assert 0 == result.exit_code, result.output
    assert "ok: sent folder: 'Sent Items'" in result.output
    assert "ok: processed folder: 'FOI/Processed' created" in result.output
    with exchange_like.client() as imap:
        assert imap.folder_exists("FOI.Processed")  # Dovecot's Maildir separator


def test_send_test_reports_that_the_server_files_no_copy(
    exchange_like: Dovecot, smtp_sink: SmtpSink, make_settings: Callable[..., Settings]
) -> None:
    """One message goes; with no server copy in Sent, append_to_sent stays on."""
    settings = imap_settings(make_settings, exchange_like, smtp_sink, "sqlite://")
    findings = check_connections(settings, send_test="it@example.gov.uk", sent_wait_seconds=0.5)
    lines = [f.line() for f in findings]
    assert "ok: test message: sent to it@example.gov.uk" in lines
    assert any(line.startswith("ok: copy in Sent: the server filed no copy in 'Sent Items'")
               for line in lines)
    assert 1 == len(smtp_sink.wait_for(1))


def test_send_test_sees_a_copy_the_server_filed_itself_and_advises_against_a_second(
    exchange_like: Dovecot, smtp_sink: SmtpSink, make_settings: Callable[..., Settings]
) -> None:
    """As Exchange and Gmail do, the server files what it relays in Sent: append_to_sent off."""
    settings = imap_settings(make_settings, exchange_like, smtp_sink, "sqlite://")

    def file_like_exchange() -> None:
        delivery = smtp_sink.wait_for(1, timeout=20)[0]
        exchange_like.append("Sent Items", delivery.raw, flags=("\\Seen",))

    filer = threading.Thread(target=file_like_exchange)
    filer.start()
    findings = check_connections(settings, send_test="it@example.gov.uk", sent_wait_seconds=15)
    filer.join()
    assert any(f.line().startswith("warning: copy in Sent: the server filed its own copy in "
                                   "'Sent Items': set smtp.append_to_sent = false")
               for f in findings)


def test_a_wrong_secret_is_translated_into_what_to_do(
    exchange_like: Dovecot, identity_provider: IdentityProvider, tmp_path: Path
) -> None:
    """Entra's words, then the step that was missed."""
    identity_provider.register_app(APP, "the-value")
    secret = tmp_path / "secret"
    secret.write_text("the-secret-id-by-mistake", encoding="utf-8")
    with SmtpSink(oauth_introspection_url=identity_provider.introspection_url) as sink:
        config = _toml(tmp_path, exchange_like, sink, mailbox={"auth": "xoauth2"},
                       oauth={"provider": "microsoft", "tenant_id": identity_provider.tenant,
                              "client_id": APP, "client_secret_file": str(secret),
                              "authority": identity_provider.authority})
        result = CliRunner().invoke(cli, ["check-config", "--connect", "--config", str(config)])
    assert 1 == result.exit_code
    assert ("wrong: sign-in: Microsoft sign-in refused: invalid_client: AADSTS7000215: Invalid "
            "client secret provided.") in result.output
    assert "-> the client secret is wrong: put the secret's Value (not its Secret ID" in \
        result.output


def test_a_mailbox_the_app_may_not_open_points_to_the_exchange_permissions(
    dovecot_factory: Callable[..., Dovecot], identity_provider: IdentityProvider, tmp_path: Path
) -> None:
    """A token for another mailbox is refused at login: the advice names Add-MailboxPermission."""
    identity_provider.register_app(APP, "the-value", mailbox="someone-else@example.gov.uk")
    secret = tmp_path / "secret"
    secret.write_text("the-value", encoding="utf-8")
    oauth_box = dovecot_factory(oauth2_introspection_url=identity_provider.introspection_url)
    with SmtpSink(oauth_introspection_url=identity_provider.introspection_url) as sink:
        config = _toml(tmp_path, oauth_box, sink, mailbox={"auth": "xoauth2"},
                       smtp={"auth": "xoauth2", "username": MAILBOX},
                       oauth={"provider": "microsoft", "tenant_id": identity_provider.tenant,
                              "client_id": APP, "client_secret_file": str(secret),
                              "authority": identity_provider.authority})
        result = CliRunner().invoke(cli, ["check-config", "--connect", "--config", str(config)])
    assert 1 == result.exit_code
    assert "ok: sign-in: a token from microsoft" in result.output
    assert "wrong: mailbox login: foi@example.gov.uk at 127.0.0.1:" in result.output
    assert "Add-MailboxPermission -Identity <mailbox>" in result.output
    assert "wrong: smtp login:" in result.output
    assert "535 5.7.3 Authentication unsuccessful -> Exchange refused the token for SMTP" in \
        result.output


def test_run_reads_staff_replies_from_the_flagged_sent_folder_and_says_so(
    exchange_like: Dovecot, smtp_sink: SmtpSink, make_settings: Callable[..., Settings],
    db_url: str,
) -> None:
    """Configured "Sent", found "Sent Items": copies are filed there, replies read from there,
    status warns; and a folder read before that disappears makes the service unwell."""
    h = Harness.start(imap_settings(make_settings, exchange_like, smtp_sink, db_url),
                      exchange_like, smtp_sink, FixedClock(MONDAY))
    try:
        h.deliver(fixture_mail("new_request_plain_foia.eml",
                               Message_ID="<request-1@mail.gmail.com>"), at=MONDAY)
        h.cycle()
        h.deliver(fixture_mail("staff_reply_on_case_thread.eml",
                               Message_ID="<staff-1@example.gov.uk>"), folder="Sent Items")
        h.cycle()
        with exchange_like.client() as imap:
            assert not imap.folder_exists("Sent")  # no second Sent folder made
        assert 2 == len(exchange_like.list_uids("Sent Items"))  # our copy and the staff reply
        with session_scope(h.app.factory) as session:
            folders = [m.folder for m in session.scalars(select(InboundMessage))]
        assert "Sent Items" in folders
        report = health_report(h.app.engine, h.app.factory, h.app.settings, h.clock.now())
        assert report.ok
        assert any("the Sent folder 'Sent' does not exist; staff replies are read from "
                   "'Sent Items'" in line for line in describe(report))

        with exchange_like.client() as imap:
            imap.delete_folder("Sent Items")
        assert h.app.source is not None
        h.app.source.close()  # a new connection looks at its folders afresh
        h.cycle()
        report = health_report(h.app.engine, h.app.factory, h.app.settings, h.clock.now())
        assert not report.ok
        assert "the folder 'Sent Items' has disappeared from the mailbox" in report.reasons
    finally:
        h.close()
