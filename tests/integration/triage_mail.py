"""Triage by email through real servers: the notices the team gets, the confirmations, and a
person's reply to one of them (filed in the shared mailbox's Sent folder, or sent from a staff
inbox our mail server vouches for), as Outlook writes it."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

from foi_mailbot.triage import notices
from tests.integration.harness import Harness, fixture_mail

TEAM = "foi-team@example.gov.uk"
STAFF = "jane.smith@example.gov.uk"
AUTHSERV_ID = "mx.example.gov.uk"
"""The name our own mail server writes in the Authentication-Results it adds."""
_TAG = re.compile(r"\[FOI triage ([0-9a-f]{20})\]")
_NOTICE = re.compile(r"\[FOI triage [0-9a-f]{20}\] Needs a decision:")
_ANSWER = re.compile(r"\[FOI triage [0-9a-f]{20}\] (done|not done|not understood):")


def sweep(h: Harness, at: datetime) -> None:
    """Run the notice sweep twice (a restart runs it again) and deliver what it queued."""
    h.clock.set(at)
    notices.sweep(h.app.factory, h.app.services, at)
    notices.sweep(h.app.factory, h.app.services, at + timedelta(minutes=5))
    h.cycle()


def notices_to_team(h: Harness) -> list[EmailMessage]:
    """The notices the team received, one per item named."""
    return [d.message for d in h.acks_to(TEAM) if _NOTICE.match(str(d.message["Subject"]))]


def confirmations_to(h: Harness, address: str) -> list[EmailMessage]:
    """The answers to commands an address received ("done", "not done", "not understood")."""
    return [d.message for d in h.acks_to(address) if _ANSWER.match(str(d.message["Subject"]))]


def token_of(message: EmailMessage) -> str:
    """The item's token in a notice's or a confirmation's subject."""
    found = _TAG.search(str(message["Subject"]))
    assert found is not None, message["Subject"]
    return found.group(1)


def _answer(fixture: str, answering: EmailMessage, command: str, at: datetime,
            **headers: str) -> bytes:
    """`fixture` (a reply with {TOKEN} and {COMMAND} in it) answering a delivered message."""
    token = token_of(answering)
    replied = str(answering["Message-ID"])
    digest = hashlib.sha256(f"{replied}{command}{at}".encode()).hexdigest()[:32].upper()
    raw = fixture_mail(
        f"triage/{fixture}", Subject=f"RE: {answering['Subject']}", Date=format_datetime(at),
        Message_ID=f"<LO2P265MB{digest}@LO2P265MB5100.GBRP265.PROD.OUTLOOK.COM>",
        In_Reply_To=replied, References=replied, **headers)
    return raw.replace(b"{TOKEN}", token.encode()).replace(b"{COMMAND}", command.encode())


def reply_in_sent(h: Harness, answering: EmailMessage, command: str, at: datetime) -> None:
    """The shared mailbox answers a notice or a confirmation with `command`; the reply is filed
    in its Sent folder at `at`, and the daemon runs."""
    h.clock.set(at)
    h.deliver(_answer("reply_outlook_command_in_sent.eml", answering, command, at), at=at,
              folder="Sent")
    h.cycle()


def reply_from_staff_inbox(h: Harness, answering: EmailMessage, command: str,
                           at: datetime) -> None:
    """A colleague answers a notice or a confirmation from their own mailbox; our server
    vouches for the DMARC pass. It arrives in the inbox at `at`, and the daemon runs."""
    h.clock.set(at)
    raw = _answer("staff_inbox_command_dmarc.eml", answering, command, at)
    h.deliver(raw.replace(b"{DMARC}", b"pass"), at=at)
    h.cycle()


__all__ = ["AUTHSERV_ID", "STAFF", "TEAM", "confirmations_to", "notices_to_team",
           "reply_from_staff_inbox", "reply_in_sent", "sweep", "token_of"]
