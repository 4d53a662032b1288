"""Triage by email through real servers: the notices and the daily summary the team gets, the
confirmations, and a person's reply to one of them (filed in the shared mailbox's Sent folder,
or sent from a staff inbox our mail server vouches for), as Outlook writes it."""

from __future__ import annotations

import hashlib
import html
import re
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

from foi_mailbot.triage import notices
from tests.integration.harness import Harness, body_text, fixture_mail

TEAM = "foi-team@example.gov.uk"
STAFF = "jane.smith@example.gov.uk"
AUTHSERV_ID = "mx.example.gov.uk"
"""The name our own mail server writes in the Authentication-Results it adds."""
_TAG = re.compile(r"\[FOI triage ([0-9a-f]{20})\]")
_NOTICE = re.compile(r"\[FOI triage [0-9a-f]{20}\] Needs a decision:")
_ANSWER = re.compile(r"\[FOI triage [0-9a-f]{20}\] (done|not done|not understood):|"
                     r"FOI triage: \d+ done, \d+ not done:")
_SUMMARY = re.compile(r"FOI triage: \d+ set-aside messages")
_REMINDER = re.compile(r"FOI triage: \d+ item\(s\) open")
_SUMMARY_ITEM = re.compile(r"^  \S+  (\S+)  .*\n      ([0-9a-f]{20}) not foi$", re.MULTILINE)


def sweep(h: Harness, at: datetime) -> None:
    """Run the notice sweep twice (a restart runs it again) and deliver what it queued."""
    h.clock.set(at)
    notices.sweep(h.app.factory, h.app.services, at)
    notices.sweep(h.app.factory, h.app.services, at + timedelta(minutes=5))
    h.cycle()


def notices_to_team(h: Harness) -> list[EmailMessage]:
    """The notices the team received, one per item named."""
    return [d.message for d in h.acks_to(TEAM) if _NOTICE.match(str(d.message["Subject"]))]


def summaries_to_team(h: Harness) -> list[EmailMessage]:
    """The daily summaries of set-aside mail the team received."""
    return [d.message for d in h.acks_to(TEAM) if _SUMMARY.match(str(d.message["Subject"]))]


def reminders_to_team(h: Harness) -> list[EmailMessage]:
    """The reminders of items left open the team received."""
    return [d.message for d in h.acks_to(TEAM) if _REMINDER.match(str(d.message["Subject"]))]


def tokens_in_summary(summary: EmailMessage) -> dict[str, str]:
    """Each set-aside message's token in a summary, by its sender."""
    return dict(_SUMMARY_ITEM.findall(body_text(summary).replace("\r\n", "\n")))


def confirmations_to(h: Harness, address: str) -> list[EmailMessage]:
    """The answers to commands an address received ("done", "not done", "not understood",
    or one answer to a reply naming several items)."""
    return [d.message for d in h.acks_to(address) if _ANSWER.match(str(d.message["Subject"]))]


def token_of(message: EmailMessage) -> str:
    """The item's token in a notice's or a confirmation's subject."""
    found = _TAG.search(str(message["Subject"]))
    assert found is not None, message["Subject"]
    return found.group(1)


def _answer(fixture: str, answering: EmailMessage, command: str, at: datetime,
            **headers: str) -> bytes:
    """`fixture` (a reply with {TOKEN} and {COMMAND} in it) answering a delivered message (an
    answer naming several items has no token in its subject)."""
    tagged = _TAG.search(str(answering["Subject"]))
    token = tagged.group(1) if tagged else ""
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


def reply_to_summary(h: Harness, summary: EmailMessage, lines: list[str], at: datetime, *,
                     dmarc: str | None = None) -> None:
    """A person answers the daily summary with `lines` on top and the summary quoted below, as
    Outlook writes it: filed in Sent (plain text), or, given `dmarc`, from a colleague's own
    inbox (HTML) with that DMARC verdict from our server. It arrives at `at`; the daemon runs."""
    h.clock.set(at)
    quoted = body_text(summary).replace("\r\n", "\n")
    digest = hashlib.sha256(f"{lines}{at}{dmarc}".encode()).hexdigest()[:32].upper()
    name = ("staff_inbox_reply_to_the_daily_summary_html.eml" if dmarc
            else "reply_outlook_to_the_daily_summary_in_sent.eml")
    raw = fixture_mail(
        f"triage/{name}", Subject=f"RE: {summary['Subject']}", Date=format_datetime(at),
        Message_ID=f"<LO2P265MB{digest}@LO2P265MB5100.GBRP265.PROD.OUTLOOK.COM>",
        In_Reply_To=str(summary["Message-ID"]), References=str(summary["Message-ID"]))
    if dmarc:
        commands = "\n".join(f'<p class="MsoNormal">{html.escape(line)}<o:p></o:p></p>'
                             for line in lines)
        raw = raw.replace(b"{DMARC}", dmarc.encode())
        quoted = html.escape(quoted)
    else:
        commands = "\n".join(lines)
    raw = raw.replace(b"{COMMANDS}", commands.encode()).replace(b"{QUOTED}", quoted.encode())
    h.deliver(raw, at=at, folder="INBOX" if dmarc else "Sent")
    h.cycle()


__all__ = ["AUTHSERV_ID", "STAFF", "TEAM", "confirmations_to", "notices_to_team",
           "reminders_to_team", "reply_from_staff_inbox", "reply_in_sent", "reply_to_summary",
           "summaries_to_team", "sweep", "token_of", "tokens_in_summary"]
