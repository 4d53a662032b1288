"""Outbound stage, second step: build the message an outbox row will send.

Takes rendered bodies and plain values, never parsed mail objects, so the message is the same
whether it is built at enqueue time or rebuilt for a retry. Every header value that may carry
applicant text goes through `strip_header_text`, so no subject or display name can add a header.
Automatic replies carry the RFC 3834 markers that stop other robots answering them.

Built with the email package's `compat32` classes: the message is assembled from values we
checked, so the modern API's parsing of each header as it is set (most of the cost of a
reply) buys nothing here. `WIRE` is the policy its bytes are written with.
"""

from __future__ import annotations

import binascii
import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from email import policy
from email.header import Header
from email.headerregistry import Address as HeaderAddress
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime, formataddr
from functools import lru_cache
from typing import Any, Final

from foi_mailbot.clock import as_utc
from foi_mailbot.errors import ConfigError, PermanentError
from foi_mailbot.parsing.headers import normalise_message_id, strip_header_text
from foi_mailbot.parsing.parsed import Address

MAX_SUBJECT: Final = 200
# RFC 5322 3.6.4 lets a long References list be trimmed; keep the thread's root and the newest.
MAX_REFERENCES: Final = 20
WIRE: Final = policy.compat32.clone(linesep="\r\n")
"""How a composed message is written for the outbox and SMTP (CRLF line ends)."""
# Any bracketed word, e.g. a reference tag; one pattern for every reference, compiled once.
_BRACKETED = re.compile(r"\[\s*([^\[\]\s]*)\s*\]")
_DOMAIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})*$")
_MINTED: Final = re.compile(r"[0-9a-f]{32}@")
# Reply markers in the languages our applicants' mail clients most often use.
_REPLY_PREFIXES = re.compile(
    r"^(?:(?:re|aw|sv|vs|antw|odp|r)\s*(?:\[\d+\]|\(\d+\))?\s*:\s*)+", re.IGNORECASE
)


def wire_bytes(message: Message) -> bytes:
    """The message as it is sent and stored: headers folded, CRLF line ends."""
    return message.as_bytes(policy=WIRE)


def mint_message_id(domain: str) -> str:
    """A new, globally unique Message-ID without angle brackets, e.g. `3f2a...@example.gov.uk`."""
    domain = domain.strip().lower()
    if not _DOMAIN.match(domain):
        msg = f"'{domain}' is not a domain name that can end a Message-ID"
        raise ConfigError(msg)
    return f"{uuid.uuid4().hex}@{domain}"


def could_be_minted(message_id: str) -> bool:
    """False when `message_id` cannot be one that `mint_message_id` made (for any domain)."""
    return _MINTED.match(message_id) is not None


def reply_subject(reference: str, original: str) -> str:
    """`[REF] ` and the original subject, cleaned, without a doubled `[REF]` or `Re:`, capped."""
    tag = f"[{reference}]"
    wanted = reference.casefold()

    def untagged(match: re.Match[str]) -> str:
        return " " if match.group(1).casefold() == wanted else match.group(0)

    text = strip_header_text(original)
    # Repeat until stable: removing one tag can bring the pieces of another together.
    while True:
        stripped = " ".join(_BRACKETED.sub(untagged, text).split())
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


@lru_cache(maxsize=64)  # the sender is the same on every letter: checked once
def _address(name: str, email: str, role: str) -> str:
    email = email.strip()
    if "@" in email:
        try:
            checked = HeaderAddress(display_name=strip_header_text(name), addr_spec=email)
        except (ValueError, IndexError):
            pass
        else:
            # One encoded word for a name: receivers split a folded phrase at its folds.
            return formataddr((checked.display_name, checked.addr_spec), charset="utf-8")
    msg = f"the {role} address is not a valid email address"
    raise PermanentError(msg)


def _header_text(name: str, value: str) -> str | Header:
    # A Header is folded into encoded words, lines of 78 at most, by the generator.
    return value if value.isascii() else Header(value, "utf-8", header_name=name)


def _text_part(text: str, subtype: str) -> Message:
    part = MIMENonMultipart("text", subtype, charset="utf-8")
    # Quoted-printable keeps non-ASCII text safe through relays that do not offer 8BITMIME;
    # encoded by binascii, in C (the email package's own encoder is pure Python).
    part["Content-Transfer-Encoding"] = "quoted-printable"
    part.set_payload(binascii.b2a_qp(text.encode("utf-8"), istext=True).decode("ascii"))
    return part


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
) -> Message:
    """A ready-to-send message; `message_id` and the thread ids are given without brackets."""
    own_id = normalise_message_id(message_id)
    if own_id is None:
        msg = "an outgoing message needs a Message-ID"
        raise PermanentError(msg)
    body = _text_part(text, "plain")
    if html is not None:
        # Quoted-printable writes "=" as "=3D": no line of either part can hold a boundary
        # that starts "=_", so it need not be searched for (as the generator would, with a
        # pattern of its own compiled for each letter).
        body = MIMEMultipart("alternative", boundary=f"=_{uuid.uuid4().hex}",
                             _subparts=[body, _text_part(html, "html")])
    # Header values may be `Header` objects (folded when written); typeshed's parameters for a
    # compat32 message allow str only.
    message: Message[Any, Any] = body
    message["From"] = _address(from_name, from_addr, "sender")
    message["To"] = _address(to.name, to.email, "recipient")
    message["Subject"] = _header_text("Subject", strip_header_text(subject))
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
    return message
