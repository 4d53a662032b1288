"""A whole foi-mailbot against real servers (Dovecot, the SMTP sink), driven cycle by cycle."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from sqlalchemy import select

from foi_mailbot.bootstrap import App, build
from foi_mailbot.clock import FixedClock
from foi_mailbot.daemon import Daemon
from foi_mailbot.ingest import store
from foi_mailbot.settings import Settings
from foi_mailbot.sources import RawMail
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import Case, InboundMessage
from tests.servers.dovecot import Dovecot
from tests.servers.smtp_sink import Delivery, SmtpSink

FIXTURES = Path(__file__).parents[1] / "fixtures"
MAILBOX = "foi@example.gov.uk"
MONDAY = datetime(2026, 1, 12, 10, 0, tzinfo=UTC)
"""Monday 12 January 2026, 10:00 UTC: the day most end-to-end tests start on."""


def fixture_mail(name: str, **headers: str) -> bytes:
    """A fixture .eml with some headers replaced (e.g. a fresh Message-ID)."""
    message = message_from_bytes((FIXTURES / name).read_bytes(), policy=policy.compat32)
    for key, value in headers.items():
        header = key.replace("_", "-")
        del message[header]
        message[header] = value
    return message.as_bytes()


def feed(app: App, raw: bytes, key: str, *, at: datetime | None = None,
         sent: bool = False) -> InboundMessage:
    """Store one message (inbox, or the Sent folder) as arriving `at` (default: the app's
    clock), process what is pending, and return its row, detached."""
    folder, direction = ("Sent", "sent") if sent else ("INBOX", "inbound")
    stored = store(app.factory, RawMail(f"test:{key}", MAILBOX, folder, None, None,
                                        at or app.clock.now(), raw, direction), app.clock)
    app.pipeline.run_pending()
    with session_scope(app.factory) as session:
        row = session.get(InboundMessage, stored.message_pk)
        assert row is not None
        session.expunge(row)
        return row


def imap_settings(
    make_settings: Callable[..., Settings], dovecot: Dovecot, sink: SmtpSink | None, db: str
) -> Settings:
    """Settings for a daemon on this Dovecot and SMTP sink."""
    box = dovecot.mailbox_settings()
    mailbox: dict[str, Any] = {
        "host": box.host, "port": box.port, "username": box.username,
        "password": box.password.get_secret_value() if box.password else None,
        "security": "none", "maildir": None, "timeout_seconds": 10.0,
        "poll_interval_seconds": 1.0,
    }
    smtp: dict[str, Any] = (
        {"host": sink.host, "port": sink.port, "security": "none", "timeout_seconds": 5.0}
        if sink is not None else {}
    )
    return make_settings(db=db, mailbox=mailbox, smtp=smtp)


@contextmanager
def running(
    make_settings: Callable[..., Settings], dovecot: Dovecot, sink: SmtpSink, db: str, *,
    at: datetime = MONDAY, **mailbox: Any,
) -> Iterator[Harness]:
    """A daemon on this Dovecot and SMTP sink, its clock at `at` (Monday 12 January 2026);
    `mailbox`: mailbox settings besides the servers' (e.g. the trusted `authserv_id`)."""
    settings = imap_settings(make_settings, dovecot, sink, db)
    if mailbox:
        settings = settings.model_copy(
            update={"mailbox": settings.mailbox.model_copy(update=mailbox)})
    h = Harness.start(settings, dovecot, sink, FixedClock(at))
    try:
        yield h
    finally:
        h.close()


@dataclass
class Harness:
    """One daemon, its servers and its clock."""

    settings: Settings
    dovecot: Dovecot
    sink: SmtpSink
    clock: FixedClock
    app: App
    daemon: Daemon

    @classmethod
    def start(
        cls, settings: Settings, dovecot: Dovecot, sink: SmtpSink, clock: FixedClock
    ) -> Harness:
        """Build the app with a live IMAP source."""
        app = build(settings, clock=clock, with_source=True)
        assert app.source is not None
        return cls(settings, dovecot, sink, clock, app, Daemon(app, app.source))

    def deliver(self, raw: bytes, *, at: datetime | None = None, folder: str = "INBOX") -> None:
        """Put a message into a folder as the server would, arrival time `at`."""
        self.dovecot.append(folder, raw, msg_time=at or self.clock.now())

    def cycle(self) -> None:
        """Run the daemon until nothing is pending."""
        self.daemon.run_until_idle()

    def acks_to(self, address: str) -> list[Delivery]:
        """What the SMTP sink received for an address."""
        return [d for d in self.sink.messages if address in d.rcpt_tos]

    def case(self, reference: str | None = None) -> Case:
        """A case by reference, or the only case."""
        with session_scope(self.app.factory) as session:
            stmt = select(Case).order_by(Case.id)
            if reference:
                stmt = stmt.where(Case.reference == reference)
            cases = list(session.scalars(stmt))
        assert cases, "no case"
        return cases[-1]

    def close(self) -> None:
        """Disconnect."""
        self.app.close()


def body_text(message: EmailMessage) -> str:
    """The plain-text body of a delivered message."""
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def reference_in(text: str) -> str:
    """The first case reference in a text."""
    match = re.search(r"IC-\d{6,}-[A-Z]\d[A-Z]\d", text)
    assert match, text
    return match.group(0)
