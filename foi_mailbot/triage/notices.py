"""Triage notices to the team: one mail per undecided message, one daily summary for the rest.

A scheduled, idempotent sweep like the reminders: each notice's outbox key names its item
(`triage:<token>:notice`), the summary and the reminder of items left open name their day, so
each goes exactly once whatever the restarts. The reminder repeats an item once its notice has
been out two working days (not counted from the message's arrival: mail read late gets its
notice alone). The summary gives each message's line ready to copy into a reply (`<token> not
foi`). Notices say what arrived, why it needs a person,
the candidate cases and the commands that settle it, ready to copy. Links in the quoted text
are defanged; the original goes along as `message/rfc822` only when small and not suspected
phishing.
"""

from __future__ import annotations

import re
from datetime import datetime
from email.charset import QP, Charset
from email.message import Message
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.parser import BytesParser
from email.policy import compat32
from typing import TYPE_CHECKING, Final

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from foi_mailbot.cases.lifecycle import OPEN_STATES
from foi_mailbot.cases.matching import normalise_subject
from foi_mailbot.clock import as_utc, local_date
from foi_mailbot.deadlines.laws import Law
from foi_mailbot.jobs.reminders import reminder_day
from foi_mailbot.outbound.outbox import enqueue
from foi_mailbot.outbound.staff_mail import staff_message
from foi_mailbot.parsing import PARSE_LIMIT, parse
from foi_mailbot.storage import queries
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import Case, InboundMessage, OutboxMessage
from foi_mailbot.triage import items
from foi_mailbot.triage.commands import REMINDER_HEADING, SUMMARY_HEADING
from foi_mailbot.triage.items import OpenItem, team_address

if TYPE_CHECKING:
    from sqlalchemy.orm import sessionmaker

    from foi_mailbot.cases.service import Services

log = structlog.get_logger(__name__)

ATTACH_UNDER: Final = 5 * 1024 * 1024
QUOTED_LINES: Final = 12
SUMMARY_LINES: Final = 2000
REMIND_AFTER_WORKING_DAYS: Final = 2
PURPOSE: Final = "triage_notice"
_NUMBER = re.compile(r"\b[A-Za-z]{1,10}-0*(\d{1,12})-")
_URL = re.compile(r"\bhttp(s?)://", re.IGNORECASE)
_DOT_IN_HOST = re.compile(r"(?<=[A-Za-z0-9])\.(?=[A-Za-z]{2,}\b)")


def defang(text: str) -> str:
    """Links made unclickable: `hxxps://example[.]org`."""
    return _DOT_IN_HOST.sub("[.]", _URL.sub(lambda m: f"hxxp{m.group(1)}://", text))


def commands_for(item: OpenItem, candidates: list[str]) -> list[str]:
    """The commands that would settle an item, ready to copy."""
    lines = [f"link {ref}" for ref in candidates[:3]]
    lines += ["new", "not foi", "ignore"]
    if item.reference:
        lines += ["send", "accept sender", "withdrawn"]
    return lines


def _candidates(session: Session, item: OpenItem) -> list[str]:
    """The message's case, the sender's open cases, cases whose number the subject quotes (a
    mistyped reference), and open cases with the same subject."""
    found = [item.reference] if item.reference else []
    ids: list[int] = []
    if item.sender and "@" in item.sender:
        ids += [case.id for case in queries.cases_of_sender(session, item.sender)]
    numbers = [int(n) for n in _NUMBER.findall(item.subject)]
    if numbers:
        ids += session.scalars(select(Case.id).where(Case.number.in_(numbers))).all()
    subject = normalise_subject(item.subject)
    if subject:
        ids += [case_id for case_id, title in session.execute(
            select(Case.id, Case.subject).where(Case.status.in_(list(OPEN_STATES))))
            if normalise_subject(title) == subject]
    for case_id in ids:
        case = session.get(Case, case_id)
        if case is not None and case.status in OPEN_STATES and case.reference not in found:
            found.append(case.reference)
    return found


def notice_text(session: Session, item: OpenItem, raw: bytes | None) -> str:
    """The body of one item's notice."""
    mail = parse(raw) if raw is not None else None
    quoted = (mail.new_text or mail.text).strip().splitlines()[:QUOTED_LINES] if mail else []
    candidates = _candidates(session, item)
    lines = [
        "A message needs a person to decide what it is.", "",
        f"  From:     {item.sender}",
        f"  Subject:  {item.subject}",
        f"  Arrived:  {item.arrived:%Y-%m-%d %H:%M} UTC", "",
        "Why it was set aside:", *[f"  - {why.strip()}" for why in item.reason.split(";")], "",
        "It begins:", *[f"  | {defang(line)}" for line in quoted], "",
        "Candidate cases: " + (", ".join(candidates) if candidates else "none found"), "",
        "To settle it, reply to this message with one of these on the first line:", "",
        *[f"  {c}" for c in commands_for(item, candidates)], "",
        "(or: review IC-..., close IC-... refused, merge IC-A into IC-B, received YYYY-MM-DD,",
        " law eir, resume replies DOMAIN). A reply filed in the shared mailbox's Sent folder, or",
        " from a staff address our mail server vouches for, is applied and confirmed.",
    ]
    return "\n".join(lines)


def with_original(message: Message, body: str, raw: bytes | None, row: InboundMessage
                  ) -> Message:
    """The notice with the original attached as message/rfc822, when small and not suspected
    phishing (a person should not be one click from opening that)."""
    suspected = any("phish" in str(f).lower() for f in row.flags or [])
    if raw is None or len(raw) >= ATTACH_UNDER or suspected:
        return message
    mixed = MIMEMultipart("mixed")
    for name, value in message.items():
        if name.lower() not in {"content-type", "mime-version", "content-transfer-encoding"}:
            mixed[name] = value
    charset = Charset("utf-8")
    charset.body_encoding = QP  # readable in the raw message, as the unattached notices are
    text = MIMEText(body, "plain", charset)  # type: ignore[arg-type]
    original = MIMEMessage(BytesParser(policy=compat32).parsebytes(raw))
    original["Content-Disposition"] = 'attachment; filename="original.eml"'
    mixed.attach(text)
    mixed.attach(original)
    return mixed


def _send(session: Session, services: Services, key: str, subject: str, text: str,
          now: datetime, *, attach: tuple[bytes | None, InboundMessage] | None = None) -> bool:
    if session.execute(select(OutboxMessage.id).where(OutboxMessage.key == key)).first():
        return False
    org = services.settings.organisation
    to = team_address(services)
    body = f"{text}\n\n-- \n{org.name} FOI mailbox (automatic notice)\n"
    message, message_id = staff_message(services.settings, to=to,
                                        subject=subject[:250], text=body, html=None, now=now)
    if attach is not None:
        message = with_original(message, body, *attach)
    return enqueue(session, key=key, message=message, message_id=message_id,
                   to_email=to, purpose=PURPOSE, now=now,
                   automatic=False) is not None


def _summary_line(item: OpenItem) -> str:
    return (f"  {item.arrived:%Y-%m-%d}  {item.sender}  \"{item.subject[:60]}\"  ({item.kind}: "
            f"{item.reason[:80]})\n      {item.token} not foi")


def summary_text(set_aside: list[OpenItem]) -> str:
    """The daily summary: what works in a reply, then a line per message ready to copy."""
    lines = [_summary_line(i) for i in set_aside[:SUMMARY_LINES]]
    more = len(set_aside) - len(lines)
    example = set_aside[0].token or ""
    return "\n".join([
        f"{SUMMARY_HEADING}: {len(set_aside)} message(s) set aside (not FOI, automatic replies, "
        "bounces).", "",
        "To settle them, reply to this message with one line per message at the top of your",
        "reply: the message's token, then a command (not foi, ignore, new, or link IC-...).",
        "Copy the line under each message below, changing the command if need be. For",
        "example, either of these:", "", f"  {example} not foi", f"  {items.tag(example)} not foi",
        "", "Each message is settled once, and confirmed with its undo line. This summary,",
        "quoted below your lines, is not read.", "",
        *lines, *([f"  ... and {more} more (foi-mailbot triage)"] if more else []),
    ])


def _noticed(session: Session, open_now: list[OpenItem]) -> dict[str, datetime]:
    """When each item's notice went out (or was queued, if it has not gone yet), by token."""
    keys = {f"triage:{i.token}:notice": i.token for i in open_now if i.token}
    stmt = select(OutboxMessage.key, OutboxMessage.sent_at, OutboxMessage.created_at).where(
        OutboxMessage.key.in_(list(keys)))
    return {keys[key]: as_utc(sent or queued) for key, sent, queued in session.execute(stmt)}


def sweep(factory: sessionmaker[Session], services: Services, now: datetime) -> int:
    """Name new items, queue their notices, and the day's summary and reminder when due;
    returns how many mails were queued."""
    settings = services.settings
    day = reminder_day(now, settings.organisation.zone, settings.reminders.send_at)
    queued = 0
    with session_scope(factory) as session:
        items.ensure_items(session, now)
        open_now = [i for i in items.open_items(session) if i.token]
        for item in (i for i in open_now if i.route == items.NOTICE):
            row = session.get(InboundMessage, item.message_pk)
            assert row is not None  # noqa: S101 - an open item's message exists
            # Its beginning: all a notice quotes, and the whole of any message small enough
            # to attach.
            raw = queries.raw_of(session, row.id, limit=PARSE_LIMIT)
            queued += _send(session, services, f"triage:{item.token}:notice",
                            f"{items.tag(item.token or '')} Needs a decision: {item.subject}",
                            notice_text(session, item, raw), now, attach=(raw, row))
        queued += _daily(session, services, open_now, day.isoformat(), now)
    log.info("triage.swept", queued=queued)
    return queued


def _daily(session: Session, services: Services, open_now: list[OpenItem], day: str,
           now: datetime) -> int:
    queued = 0
    set_aside = [i for i in open_now if i.route == items.SUMMARY]
    if set_aside:
        queued += _send(session, services, f"triage:summary:{day}",
                        f"FOI triage: {len(set_aside)} set-aside messages ({day})",
                        summary_text(set_aside), now)
    return queued + _reminder(session, services, open_now, day, now)


def _reminder(session: Session, services: Services, open_now: list[OpenItem], day: str,
              now: datetime) -> int:
    # An item is repeated once its notice has waited two working days, however old the
    # message was when it arrived: mail processed late gets its notice first, alone.
    zone = services.settings.organisation.zone
    calendar = services.calendars.for_law(Law.FOIA)
    noticed = _noticed(session, [i for i in open_now if i.route == items.NOTICE])
    old = [(i, noticed[i.token]) for i in open_now if i.token in noticed
           and calendar.working_days_between(local_date(noticed[i.token], zone),
                                             local_date(now, zone)) >= REMIND_AFTER_WORKING_DAYS]
    if not old:
        return 0
    text = (f"{REMINDER_HEADING}: {len(old)} item(s). Reply to each one's notice, or to this "
            "message with a line per item: its token, then a command.\n\n") + "\n".join(
        f"  {items.tag(i.token or '')} notice sent {sent:%Y-%m-%d}, arrived "
        f"{i.arrived:%Y-%m-%d}  {i.sender}  \"{i.subject[:60]}\"" for i, sent in old)
    return int(_send(session, services, f"triage:reminder:{day}",
                     f"FOI triage: {len(old)} item(s) open for {REMIND_AFTER_WORKING_DAYS}+ "
                     "working days", text, now))


__all__ = ["defang", "notice_text", "summary_text", "sweep", "with_original"]
