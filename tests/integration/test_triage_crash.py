"""kill -9 between receiving a triage command and confirming it: the restart applies it once
and confirms it once (the command, its audit entry and its confirmation commit together)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from foi_mailbot.storage.models import AuditEntry, InboundMessage, TriageItem
from tests.integration.daemon_process import DaemonProcess, wait_until, write_config
from tests.integration.faults_support import acknowledgements, request
from tests.servers.dovecot import Dovecot
from tests.servers.smtp_sink import SmtpSink

pytestmark = [pytest.mark.dovecot, pytest.mark.slow]

TEAM = "foi-team@example.gov.uk"
TOKEN = "0123456789abcdef0a1b"


def _flag_the_request(db: str) -> None:
    engine = create_engine(db)
    with Session(engine) as session, session.begin():
        row = session.scalars(select(InboundMessage).where(
            InboundMessage.direction == "inbound")).one()
        row.needs_person, row.resolved_at = True, None
        session.add(TriageItem(message_pk=row.id, token=TOKEN, route="notice",
                               opened_at=datetime.now(UTC)))
    engine.dispose()


def _command() -> bytes:
    return (f"From: Example Council FOI <foi@example.gov.uk>\r\nTo: {TEAM}\r\n"
            f"Subject: RE: [FOI triage {TOKEN}] Needs a decision\r\n"
            "Date: Mon, 12 Jan 2026 11:00:00 +0000\r\n"
            "Message-ID: <crash-command@EXAMPLE.PROD.OUTLOOK.COM>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n\r\nignore\r\n\r\nJane\r\n").encode()


def _confirmations(sink: SmtpSink) -> list[str]:
    return [str(d.message["Subject"]) for d in sink.messages
            if TEAM in d.rcpt_tos and "done:" in str(d.message["Subject"])]


@pytest.mark.parametrize("delay", [0.0, 0.5, 1.2])
def test_kill9_between_a_command_and_its_confirmation_applies_and_confirms_once(
    dovecot: Dovecot, smtp_sink: SmtpSink, tmp_path: Path, delay: float
) -> None:
    """Killed at one of several moments after the command lands in Sent: one settlement, one
    audit entry, one confirmation."""
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    config = write_config(tmp_path / "c.toml", db=db, dovecot=dovecot, sink=smtp_sink,
                          data_dir=tmp_path / "data")
    daemon = DaemonProcess(config, tmp_path / "daemon.log")
    try:
        daemon.start()
        wait_until((tmp_path / "db.sqlite").exists, 20, "the database")
        dovecot.append("INBOX", request(1))
        wait_until(lambda: len(acknowledgements(smtp_sink)) >= 1, 30, "the acknowledgement")
        _flag_the_request(db)
        dovecot.append("Sent", _command())
        time.sleep(delay)
        daemon.kill9()

        daemon.start()
        wait_until(lambda: len(_confirmations(smtp_sink)) >= 1, 30, "the confirmation")
        time.sleep(1.5)
    finally:
        daemon.kill9()

    engine = create_engine(db)
    with engine.connect() as conn:
        audits = conn.scalar(select(func.count(AuditEntry.id)).where(
            AuditEntry.action == "triage.ignore"))
        settled = conn.execute(select(TriageItem.settled_at, TriageItem.command)).one()
    engine.dispose()
    assert 1 == len(_confirmations(smtp_sink))
    assert 1 == audits
    assert settled.settled_at is not None and "ignore" == settled.command
