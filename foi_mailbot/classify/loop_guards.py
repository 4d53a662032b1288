"""Classification rules that run first: mail that must never be answered.

Our own mail coming back, automatic replies (RFC 3834), delivery reports (RFC 3464),
list and bulk mail, and out-of-office notices that carry none of the headers. Answering any of
these starts a mail loop or acknowledges a robot, so they are caught before any rule that could
open a case. Each rule reads headers or a short phrase and says which one decided.
"""

from __future__ import annotations

import re

from foi_mailbot.classify.base import ClassifyContext, Kind, Verdict
from foi_mailbot.classify.phrases import (
    AUTO_REPLY_BODY,
    AUTO_REPLY_SUBJECTS,
    AWAY,
    AWAY_RETURN,
    matches,
    starts_with,
)
from foi_mailbot.parsing.folding import fold, normalise
from foi_mailbot.parsing.parsed import ParsedMail

_BULK_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply"})
_SUPPRESS_TOKENS = frozenset({"all", "oof", "autoreply"})
_REPORT_TYPES = frozenset({
    "multipart/report",
    "message/delivery-status",
    "message/disposition-notification",
    "message/feedback-report",
})
_DAEMONS = frozenset({"mailer-daemon", "mailerdaemon", "mail-daemon", "postmaster"})
_DAEMON_NAMES = ("mail delivery subsystem", "mail delivery system")
_LIST_HEADERS = ("list-id", "list-unsubscribe", "list-post")
# Helpdesk and ticket-system acknowledgements: decisive alone...
HELPDESK_STRONG = (
    "has been logged as ticket", "has been logged as a ticket", "has been logged with ticket",
    "your message has been logged", "your email has been logged", "your e-mail has been logged",
    "your enquiry has been logged", "your query has been logged", "your request has been logged",
    "a ticket has been created", "a ticket has been opened", "a ticket has been raised",
    "a new ticket has been created", "a support ticket has been", "your ticket number is",
    "your ticket reference is", "your ticket id is", "ticket has been created for you",
    "this is an automated response", "this is an automatic response",
    "this is an automated message", "this is an automatically generated",
    "has been given the case number", "has been assigned the reference number",
)
# ...and phrases people write too, which count only in a message that speaks of a ticket.
HELPDESK_WITH_TICKET = (
    "thank you for contacting us", "thank you for contacting", "thanks for contacting",
    "do not reply to this email", "do not reply to this e-mail", "please do not reply",
    "we have received your email", "we have received your message",
    "we have received your enquiry", "we have received your request",
    "your enquiry has been received", "one of our agents", "one of our team will",
    "we aim to respond within", "we will respond within",
)
_TICKET_WORDS = ("ticket", "case number", "incident number", "reference number")
_TICKET_SUBJECT = re.compile(
    r"(?:\b(?:ticket|incident)\s*(?:#|no\.?|number|id|ref\.?)?\s*[:#]?\s*"
    r"[A-Z]{0,6}-?\d{4,}\b.*\b(?:created|opened|received|logged|raised|acknowledg\w*)\b"
    r"|\[\s*(?:ticket\s*)?#\s*\d{3,}\s*\]"
    r"|\bticket\s*(?:#|no\.?|number|id)\s*:?\s*[A-Z]{0,6}-?\d{3,})",
    re.IGNORECASE,
)
_HELPDESK_HEAD = 2_000
# Out-of-office notices are short; in a long letter these phrasings are the applicant's own.
_SHORT_BODY = 1_500
_BODY_HEAD = 600


def _auto(*reasons: str) -> Verdict:
    return Verdict(kind=Kind.AUTO_REPLY, reasons=reasons)


def _token(value: str) -> str:
    """The first token of a structured header value, lower-cased ("auto-replied; x=y")."""
    return value.split(";", 1)[0].strip().lower()


class OwnMail:
    """See `Rule`: mail from our own mailbox, or with our X-Loop mark, never gets an answer."""

    name = "own_mail"

    def check(self, mail: ParsedMail, ctx: ClassifyContext) -> Verdict | None:
        mailboxes = {a.lower() for a in ctx.mailbox_addresses}
        loop = mail.header("x-loop").lower()
        ours = sorted(a for a in mailboxes if a in loop)
        if ours:
            return _auto(f"X-Loop names our mailbox {ours[0]}: our own automatic mail came back.")
        sender = mail.from_addr.email if mail.from_addr else ""
        if sender not in mailboxes or ctx.from_sent_folder:
            return None
        submitted = _token(mail.header("auto-submitted"))
        if submitted and submitted != "no":
            return _auto(
                f"Sent from our own mailbox {sender} with Auto-Submitted: {submitted}: "
                "our own automatic mail came back."
            )
        return Verdict(
            kind=Kind.STAFF,
            reasons=(f"Sent from our own mailbox {sender} by a person using it.",),
        )


class AutoSubmitted:
    """See `Rule`: RFC 3834 Auto-Submitted with any value but "no"."""

    name = "auto_submitted"

    def check(self, mail: ParsedMail, ctx: ClassifyContext) -> Verdict | None:
        value = _token(mail.header("auto-submitted"))
        if not value or value == "no":
            return None
        return _auto(f"Auto-Submitted: {value} marks an automatic message (RFC 3834).")


class AutoReplyHeaders:
    """See `Rule`: X-Autoreply, X-Autorespond, or X-Auto-Response-Suppress set by auto-replies."""

    name = "auto_reply_headers"

    def check(self, mail: ParsedMail, ctx: ClassifyContext) -> Verdict | None:
        for header in ("x-autoreply", "x-autorespond"):
            if header in mail.headers:
                shown = "X-Autoreply" if header == "x-autoreply" else "X-Autorespond"
                return _auto(f"The {shown} header marks an automatic reply.")
        suppress = mail.header("x-auto-response-suppress")
        tokens = {t.strip().lower() for t in suppress.replace(";", ",").split(",")}
        found = sorted(tokens & _SUPPRESS_TOKENS)
        if found:
            return _auto(
                f"X-Auto-Response-Suppress: {suppress} ({', '.join(found)}) is set by "
                "automatic replies and bulk senders."
            )
        return None


class BulkPrecedence:
    """See `Rule`: Precedence: bulk, junk, list or auto_reply."""

    name = "bulk_precedence"

    def check(self, mail: ParsedMail, ctx: ClassifyContext) -> Verdict | None:
        value = _token(mail.header("precedence"))
        if value not in _BULK_PRECEDENCE:
            return None
        return _auto(f"Precedence: {value} marks bulk or automatic mail.")


class DeliveryReport:
    """See `Rule`: a delivery status notification (multipart/report, RFC 3464) or bounce."""

    name = "delivery_report"

    def check(self, mail: ParsedMail, ctx: ClassifyContext) -> Verdict | None:
        if mail.content_type in _REPORT_TYPES:
            return _auto(f"Content-Type {mail.content_type} is a delivery or read report.")
        for part in mail.attachments:
            if part.content_type in _REPORT_TYPES:
                return _auto(f"It carries a {part.content_type} part: a delivery report.")
        if "x-failed-recipients" in mail.headers:
            return _auto("The X-Failed-Recipients header marks a bounce.")
        return None


class NullReturnPath:
    """See `Rule`: Return-Path <> (the null sender of bounces and auto-replies)."""

    name = "null_return_path"

    def check(self, mail: ParsedMail, ctx: ClassifyContext) -> Verdict | None:
        if "return-path" not in mail.headers:
            return None
        if "".join(mail.header("return-path").split()) != "<>":
            return None
        return _auto("Return-Path: <> is the null sender used by bounces and automatic replies.")


class DaemonSender:
    """See `Rule`: sent by MAILER-DAEMON, postmaster or a mail delivery system."""

    name = "daemon_sender"

    def check(self, mail: ParsedMail, ctx: ClassifyContext) -> Verdict | None:
        if mail.from_addr is None:
            return None
        local = mail.from_addr.email.partition("@")[0]
        if local in _DAEMONS:
            return _auto(f"The sender {mail.from_addr.email} is a mail system, not a person.")
        display = mail.from_addr.name.lower()
        if any(name in display for name in _DAEMON_NAMES):
            return _auto(f"The sender name '{mail.from_addr.name}' is a mail delivery system.")
        return None


class ListMail:
    """See `Rule`: mailing-list and newsletter mail (List-Id, List-Unsubscribe, List-Post)."""

    name = "list_mail"

    def check(self, mail: ParsedMail, ctx: ClassifyContext) -> Verdict | None:
        for header in _LIST_HEADERS:
            if header in mail.headers:
                shown = "-".join(part.capitalize() for part in header.split("-"))
                shown = shown.replace("-Id", "-ID")
                return _auto(f"The {shown} header marks mailing-list or bulk mail.")
        return None


class OutOfOfficeText:
    """See `Rule`: out-of-office wording in the subject or a short body (mail without headers)."""

    name = "out_of_office_text"

    def check(self, mail: ParsedMail, ctx: ClassifyContext) -> Verdict | None:
        extra = ctx.extra_auto_reply_phrases
        opening = starts_with(normalise(mail.subject), (*AUTO_REPLY_SUBJECTS, *extra))
        if opening:
            return _auto(f"The subject opens with '{opening}', as automatic replies do.")
        body = mail.new_text or mail.text
        if len(body) > _SHORT_BODY:
            return None
        head = fold(body[:_BODY_HEAD])  # read for three lists: its words found once
        found = matches(head, (*AUTO_REPLY_BODY, *extra))
        if found:
            return _auto(f"A short message saying '{found[0]}' is an automatic notice.")
        away, back = matches(head, AWAY), matches(head, AWAY_RETURN)
        if away and back:
            return _auto(
                f"A short message saying '{away[0]}' ... '{back[0]}' is an out-of-office notice."
            )
        return None


class HelpdeskText:
    """See `Rule`: a helpdesk or ticket system's acknowledgement, headers or none.

    Such systems answer every message, often from a new address or with a new ticket subject
    each time, so an answer to them starts a loop that no per-address cap stops.
    """

    name = "helpdesk_text"

    def check(self, mail: ParsedMail, ctx: ClassifyContext) -> Verdict | None:
        ticket_subject = _TICKET_SUBJECT.search(mail.subject)
        if ticket_subject:
            return _auto(f"The subject '{ticket_subject.group(0).strip()}' is a ticket "
                         "system's acknowledgement.")
        head = fold(f"{mail.subject}\n{(mail.new_text or mail.text)[:_HELPDESK_HEAD]}")
        strong = matches(head, HELPDESK_STRONG)
        if strong:
            return _auto(f"It says '{strong[0]}', as helpdesk and ticket systems do.")
        ticket = matches(head, _TICKET_WORDS)
        polite = matches(head, HELPDESK_WITH_TICKET) if ticket else []
        if polite:
            return _auto(f"It says '{polite[0]}' and speaks of a '{ticket[0]}', as helpdesk "
                         "and ticket systems do.")
        return None
