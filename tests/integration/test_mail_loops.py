"""Mail loops through a real Dovecot and SMTP server, with responders written here: each
answers every letter it receives, the way real out-of-office and helpdesk systems do."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select

from foi_mailbot.clock import FixedClock
from foi_mailbot.settings import Settings
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import Case, InboundMessage
from tests.integration.harness import Harness, fixture_mail, imap_settings
from tests.servers.dovecot import Dovecot
from tests.servers.smtp_sink import SmtpSink

pytestmark = pytest.mark.dovecot

MONDAY = datetime(2026, 1, 12, 10, 0, tzinfo=UTC)
OPS = "ops@example.gov.uk"
Responder = Callable[[EmailMessage, int], bytes]


def _reply(sender: str, subject: str, body: str, n: int, *headers: str) -> bytes:
    lines = [f"From: {sender}", "To: foi@example.gov.uk", f"Subject: {subject}",
             f"Message-ID: <responder-{n}-{abs(hash(sender)) % 10**8}@responder.example>",
             "Date: Mon, 12 Jan 2026 10:00:00 +0000", *headers,
             "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "", body, ""]
    return "\r\n".join(lines).encode()


def rfc3834_out_of_office(letter: EmailMessage, n: int) -> bytes:
    """Outlook-style automatic reply with Auto-Submitted and In-Reply-To."""
    return _reply("Rita Ooo <rita@ooo-rfc.example>", f"Automatic reply: {letter['Subject']}",
                  "I am on leave until 26 January with no access to email.", n,
                  "Auto-Submitted: auto-replied", f"In-Reply-To: {letter['Message-ID']}")


def headerless_out_of_office(letter: EmailMessage, n: int) -> bytes:
    """An out-of-office notice with none of the headers, and no thread."""
    return _reply("Hal Plain <hal@ooo-plain.example>", f"Re: {letter['Subject']}",
                  "Thank you for your email. I am out of the office until Monday 26 January "
                  "and will respond on my return.", n)


def helpdesk_new_subject(letter: EmailMessage, n: int) -> bytes:
    """A helpdesk answering from the same address with a new ticket subject each time."""
    return _reply("Brightwell Housing <help@brightwell.example>",
                  f"[Ticket #{771900 + n}] {letter['Subject']}",
                  "Dear customer, thanks for contacting us. Please quote your ticket number "
                  "in any reply. Do not reply to this email.", n)


def helpdesk_new_address(letter: EmailMessage, n: int) -> bytes:
    """A helpdesk answering from a new address each time, no headers, no thread."""
    return _reply(f"ACME Service Desk <support+{48200 + n}@desk.acme.example>",
                  "We have received your email",
                  f"Thank you for contacting us. Your message has been logged as ticket "
                  f"#{48200 + n} and one of our agents will be in touch.", n)


def unrecognised_new_address(letter: EmailMessage, n: int) -> bytes:
    """A robot whose wording we do not know, from a new address each time."""
    return _reply(f"Facilities <desk+{n}@facilities.example>", f"Your note {n}",
                  "Hello, we got your note. Could you please send us your account number "
                  "so that we can look at it?", n)


REQUESTERS: dict[str, Responder] = {
    "rita@ooo-rfc.example": rfc3834_out_of_office,
    "hal@ooo-plain.example": headerless_out_of_office,
    "help@brightwell.example": helpdesk_new_subject,
    "ann@desk.acme.example": helpdesk_new_address,
}


@pytest.fixture
def harness(
    make_settings: Callable[..., Settings], dovecot: Dovecot, smtp_sink: SmtpSink, db_url: str
) -> Iterator[Harness]:
    settings = imap_settings(make_settings, dovecot, smtp_sink, db_url)
    settings = settings.model_copy(update={
        "health": settings.health.model_copy(update={"ops_address": OPS})})
    h = Harness.start(settings, dovecot, smtp_sink, FixedClock(MONDAY))
    yield h
    h.close()


def _run_loop(h: Harness, responders: Callable[[str], Responder | None], rounds: int) -> None:
    """Each round, every responder answers every letter it got, a minute later."""
    seen = 0
    for n in range(rounds):
        new = h.sink.messages[seen:]
        seen = len(h.sink.messages)
        if not new:
            return
        at = h.clock.now() + timedelta(minutes=1)
        for delivery in new:
            for rcpt in delivery.rcpt_tos:
                responder = responders(rcpt)
                if responder is not None:
                    h.deliver(responder(delivery.message, n * 100 + seen), at=at)
        h.clock.set(at + timedelta(seconds=5))
        h.cycle()


def _cases(h: Harness) -> int:
    with session_scope(h.app.factory) as session:
        return int(session.scalar(select(func.count(Case.id))) or 0)


def _request(h: Harness, sender: str, n: int) -> None:
    h.deliver(fixture_mail("new_request_plain_foia.eml", From=f"Requester <{sender}>",
                           Message_ID=f"<loop-request-{n}@requester.example>",
                           Subject=f"FOI request {n}: agency staff spending"), at=MONDAY)


def test_four_responders_each_get_one_acknowledgement_and_open_no_case(
    harness: Harness,
) -> None:
    """RFC 3834 and header-less out-of-office, a helpdesk with a new ticket subject each time
    and one from a new address each time: one acknowledgement to each requester, no case
    opened by any responder, and the loop ends."""
    h = harness
    for n, sender in enumerate(REQUESTERS):
        _request(h, sender, n)
    h.cycle()

    def responder(rcpt: str) -> Responder | None:
        domain = rcpt.rpartition("@")[2]
        return next((r for a, r in REQUESTERS.items() if a.endswith("@" + domain)), None)

    _run_loop(h, responder, rounds=8)

    for sender in REQUESTERS:
        assert 1 == len(h.acks_to(sender)), sender
    assert len(REQUESTERS) == _cases(h)
    assert not h.acks_to(OPS)
    with session_scope(h.app.factory) as session:
        kinds = session.scalars(select(InboundMessage.kind)).all()
    assert len(REQUESTERS) == kinds.count("auto_reply")  # each responder answered once


def test_an_unknown_robot_writing_from_new_addresses_is_stopped_with_one_alert(
    harness: Harness,
) -> None:
    """Wording we cannot recognise: the per-domain breaker ends the loop and tells ops once."""
    h = harness
    _request(h, "ann@facilities.example", 0)
    h.cycle()

    def responder(rcpt: str) -> Responder | None:
        return unrecognised_new_address if rcpt.endswith("@facilities.example") else None

    _run_loop(h, responder, rounds=12)

    letters = [d for d in h.sink.messages if any(r.endswith("@facilities.example")
                                                 for r in d.rcpt_tos)]
    assert 1 + h.settings.replies.loop_breaker_letters == len(letters)
    assert 1 == len(h.acks_to(OPS))
