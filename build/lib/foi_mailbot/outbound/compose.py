"""Outbound stage, second step: build the `EmailMessage` an outbox row will send.

Takes rendered bodies and plain values, never parsed mail objects, so the message is the same
whether it is built at enqueue time or rebuilt for a retry. Every header value that may carry
applicant text goes through `strip_header_text`, so no subject or display name can add a header.
Automatic replies carry the RFC 3834 markers that stop other robots answering them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from email import policy
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Final

from foi_mailbot.clock import as_utc
from foi_mailbot.errors import ConfigError, PermanentError
from foi_mailbot.parsing.headers import normalise_message_id, strip_header_text
from foi_mailbot.parsing.parsed import Address

MAX_SUBJECT: Final = 200
# RFC 5322 3.6.4 lets a long References list be trimmed; keep the thread's root and the newest.
MAX_REFERENCES: Final = 20
_DOMAIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})*$")
# Reply markers in the languages our applicants' mail clients most often use.
_REPLY_PREFIXES = re.compile(
    r"^(?:(?:re|aw|sv|vs|antw|odp|r)\s*(?:\[\d+\]|\(\d+\))?\s*:\s*)+", re.IGNORECASE
)


def mint_message_id(domain: str) -> str:
    """A new, globally unique Message-ID without angle brackets, e.g. `3f2a...@example.gov.uk`."""
    domain = domain.strip().lower()
    if not _DOMAIN.match(domain):
        msg = f"'{domain}' is not a domain name that can end a Message-ID"
        raise ConfigError(msg)
    return f"{uuid.uuid4().hex}@{domain}"


def reply_subject(reference: str, original: str) -> str:
    """`[REF] ` and the original subject, cleaned, without a doubled `[REF]` or `Re:`, capped."""
    tag = f"[{reference}]"
    ref_pattern = re.compile(rf"\[\s*{re.escape(reference)}\s*\]", re.IGNORECASE)
    text = strip_header_text(original)
    # Repeat until stable: removing one tag can bring the pieces of another together.
    while True:
        stripped = " ".join(ref_pattern.sub(" ", text).split())
        if stripped == text:
            break
        text = stripped
    prefix = _REPLY_PREFIXES.match(text)
    if prefix:
        text = "Re: " + text[prefix.end() :].lstrip()
    subject = f"{tag} {text}".strip() if text else tag
    if len(subject) > MAX_SUBJECT:
        subject = subject[: MAX_SUBJECT - 1].rstrip() + "…"
    return subject


def _address(name: str, email: str, role: str) -> HeaderAddress:
    email = email.strip()
    if "@" in email:
        try:
            return HeaderAddress(display_name=strip_header_text(name), addr_spec=email)
        except (ValueError, IndexError):
            pass
    msg = f"the {role} address is not a valid email address"
    raise PermanentError(msg)


def _thread_ids(in_reply_to: str | None, references: Sequence[str]) -> tuple[str | None, list[str]]:
    parent = normalise_message_id(in_reply_to)
    ids = [i for i in (normalise_message_id(r) for r in references) if i]
    if parent:
        ids.append(parent)
    ids = list(dict.fromkeys(ids))
    if parent and ids[-1] != parent:
        # The parent must come last (RFC 5322 3.6.4) even if it was already in the list.
        ids.remove(parent)
        ids.append(parent)
    if len(ids) > MAX_REFERENCES:
        ids = ids[:1] + ids[-(MAX_REFERENCES - 1) :]
    return parent, ids


def compose(
    *,
    from_addr: str,
    from_name: str,
    to: Address,
    subject: str,
    text: str,
    html: str | None,
    message_id: str,
    in_reply_to: str | None,
    references: Sequence[str],
    automatic: bool = True,
    date: datetime,
) -> EmailMessage:
    """A ready-to-send message; `message_id` and the thread ids are given without brackets."""
    own_id = normalise_message_id(message_id)
    if own_id is None:
        msg = "an outgoing message needs a Message-ID"
        raise PermanentError(msg)
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = _address(from_name, from_addr, "sender")
    message["To"] = _address(to.name, to.email, "recipient")
    message["Subject"] = strip_header_text(subject)
    message["Date"] = format_datetime(as_utc(date))
    message["Message-ID"] = f"<{own_id}>"
    parent, thread = _thread_ids(in_reply_to, references)
    if parent:
        message["In-Reply-To"] = f"<{parent}>"
    if thread:
        message["References"] = " ".join(f"<{i}>" for i in thread)
    if automatic:
        message["Auto-Submitted"] = "auto-replied"
        message["X-Auto-Response-Suppress"] = "All"
        message["Precedence"] = "auto_reply"
    # Quoted-printable keeps non-ASCII text safe through relays that do not offer 8BITMIME.
    message.set_content(text, cte="quoted-printable")
    if html is not None:
        message.add_alternative(html, subtype="html", cte="quoted-printable")
    return message
