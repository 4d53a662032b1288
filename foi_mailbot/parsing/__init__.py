"""Pipeline stage `parsing.parse`: the stored raw bytes become a `ParsedMail` for the pure core.

mail-parser does the MIME work on the message with its large attachments set aside
(`set_aside`: the parser reads a stand-in, their sizes are kept). When it fails, the stdlib
parser is tried (`policy.default`, then `compat32`), and as a last resort only the header
block is read. `parse` never raises: a
message we cannot read fully is still stored, classified and shown to a person, with every
problem listed in `defects` as a short code (`no_message_id`, `bad_charset: x-unknown`,
`parse_error: ...`).
"""

from __future__ import annotations

import email.policy
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.message import Message
from email.parser import BytesHeaderParser, BytesParser
from email.utils import parsedate_to_datetime
from typing import Any

from foi_mailbot.parsing.body import base64_size, clean_text, html_to_text, new_text
from foi_mailbot.parsing.headers import (
    addresses_from_header,
    addresses_from_pairs,
    decode_value,
    message_ids,
    normalise_message_id,
    strip_header_text,
    unknown_charsets,
)
from foi_mailbot.parsing.parsed import REPEATED, Address, AttachmentInfo, ParsedMail
from foi_mailbot.parsing.set_aside import Slimmed, set_aside

MAX_MESSAGE_BYTES = 40 * 1024 * 1024
"""The default `[mailbox] max_message_bytes`."""
PARSE_LIMIT = 8 * 1024 * 1024
"""At most this much of a message is parsed (after large attachments are set aside)."""
_MAX_HEADER_NAMES = 500
# The stdlib parser is quadratic in multipart nesting (3,000 levels cost seconds); no real
# message comes near this many multipart declarations.
_MAX_MULTIPARTS = 200
_MAX_HEADER_VALUE = 4_000
_MAX_REPEATED = 50
_ADDRESS_HEADERS = ("from", "to", "cc", "reply-to")
_DECODED_HEADERS = ("subject", "from", "to", "cc", "reply-to")
_INVENTED_NAME = re.compile(r"[a-z]{10}\.(?:txt|rtf)")


@dataclass
class _Headers:
    """The header block read once: first decoded value per name, and first raw value."""

    decoded: dict[str, str] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)
    repeated: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class _Body:
    """What the MIME walk found."""

    text: str = ""
    attachments: tuple[AttachmentInfo, ...] = ()


def parse(raw: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES, size: int | None = None,
          ) -> ParsedMail:
    """Parse one raw message. Never raises; whatever went wrong is listed in `defects`.

    A message over `max_bytes` is read from its headers and its first `PARSE_LIMIT` bytes
    only (defect `too_large`); below it, once large attachments are set aside, at most
    `PARSE_LIMIT` bytes are parsed (defect `text_truncated`), so no message costs more memory
    than a few times that. `size`: the whole message's, when `raw` is only its beginning (a
    message over the cap is read back from storage that way).
    """
    size = len(raw) if size is None else size
    if size > max_bytes:
        return _oversized(raw, size, max_bytes)
    if not raw.strip():
        return ParsedMail(
            message_id=None, subject="", from_addr=None, size=len(raw),
            defects=("empty_message", "no_message_id", "no_date", "no_from"),
        )
    mail = set_aside(raw)
    if len(mail.raw) > PARSE_LIMIT:
        head = _slimmed_head(mail)
        parsed = _with_stdlib(head, ["text_truncated"])
        return replace(parsed, size=mail.size)
    if mail.raw.lower().count(b"multipart/") > _MAX_MULTIPARTS:
        return _headers_only(mail, ["too_many_parts"])
    try:
        return _with_mailparser(mail)
    # mail-parser is a third-party parser fed hostile input; any failure means "try the stdlib".
    except Exception as exc:  # noqa: BLE001
        failure = f"parse_error: mail-parser {type(exc).__name__}"
    return _with_stdlib(mail, [failure])


def _oversized(raw: bytes, size: int, max_bytes: int) -> ParsedMail:
    """A message over the cap: its headers and first text only, never the whole of it."""
    head = raw[:PARSE_LIMIT]  # the one copy made, of a bounded size
    defects = [f"too_large: {size} bytes (limit {max_bytes})"]
    parsed = _with_stdlib(set_aside(head), defects)
    return replace(parsed, size=size)


def _slimmed_head(mail: Slimmed) -> Slimmed:
    """The first `PARSE_LIMIT` bytes of a slimmed message, cut at a line break."""
    cut = mail.raw.rfind(b"\n", 0, PARSE_LIMIT) + 1 or PARSE_LIMIT
    return Slimmed(mail.raw[:cut], mail.size, mail.aside)


def unreadable(mail: ParsedMail) -> str | None:
    """Why a message could not be read in full (it is flagged, never acknowledged), or None."""
    for defect in mail.defects:
        if defect.startswith("too_large"):
            return (f"the message is larger than the limit ({defect.partition(': ')[2]}); "
                    "only its headers and first text were read")
        if defect == "body_not_parsed":
            return "the message's body could not be parsed; only its headers were read"
        if defect == "empty_message":
            return "the message is empty"
    return None


def _with_mailparser(mail: Slimmed) -> ParsedMail:
    import mailparser  # here, so the pure core can use ParsedMail without loading the parser

    parser = mailparser.parse_from_bytes(mail.raw)
    message: Message = parser.message
    defects: list[str] = []
    headers = _read_headers(message, defects)
    addresses = {name: _addresses(parser, headers, name) for name in _ADDRESS_HEADERS}
    defects.extend(_mime_defects(parser.defects))
    defects.extend(_decoding_defects(message))
    text = "\n".join(parser.text_plain)
    if not text.strip() and parser.text_html:
        text = _from_html(parser.text_html, defects)
    attachments = tuple(_attachment(item, mail) for item in parser.attachments)
    return _assemble(
        mail, message, headers, addresses=addresses, body=_Body(clean_text(text), attachments),
        date=_aware(parser.date), defects=defects,
    )


def _addresses(parser: Any, headers: _Headers, name: str) -> tuple[Address, ...]:
    """An address header's mailboxes: mail-parser's, unless the header has raw 8-bit bytes,
    which mail-parser turns into escape text ("\\udc80") that would reach our letters."""
    raw = headers.raw.get(name)
    if raw is not None and not raw.isascii():
        return addresses_from_header(raw)
    return addresses_from_pairs(_pairs(getattr(parser, name.replace("-", "_"))))


def _with_stdlib(mail: Slimmed, defects: list[str]) -> ParsedMail:
    for name, policy in (("default", email.policy.default), ("compat32", email.policy.compat32)):
        try:
            message = BytesParser(policy=policy).parsebytes(mail.raw)
            return _from_message(mail, message, list(defects))
        # The stdlib raises a wide range of errors on broken MIME; each one is recorded.
        except Exception as exc:  # noqa: BLE001
            defects.append(f"parse_error: stdlib {name} {type(exc).__name__}")
    return _headers_only(mail, defects)


def _headers_only(mail: Slimmed, defects: list[str]) -> ParsedMail:
    """Last resort: the header block alone (no MIME recursion), so the mail is still routed."""
    try:
        message = BytesHeaderParser(policy=email.policy.compat32).parsebytes(mail.raw)
        return _from_message(mail, message, defects, with_body=False)
    except Exception as exc:  # noqa: BLE001
        defects.append(f"parse_error: headers {type(exc).__name__}")
    return ParsedMail(
        message_id=None, subject="", from_addr=None, size=mail.size,
        defects=(*defects, "no_message_id", "no_date", "no_from"),
    )


def _from_message(
    mail: Slimmed, message: Message, defects: list[str], *, with_body: bool = True
) -> ParsedMail:
    headers = _read_headers(message, defects)
    addresses = {name: addresses_from_header(headers.raw.get(name)) for name in _ADDRESS_HEADERS}
    body = _walk(message, mail, defects) if with_body else _Body()
    if not with_body:
        defects.append("body_not_parsed")
    date = _stdlib_date(headers.raw.get("date"))
    return _assemble(
        mail, message, headers, addresses=addresses, body=body, date=date, defects=defects
    )


def _assemble(
    mail: Slimmed,
    message: Message,
    headers: _Headers,
    *,
    addresses: dict[str, tuple[Address, ...]],
    body: _Body,
    date: datetime | None,
    defects: list[str],
) -> ParsedMail:
    message_id = normalise_message_id(headers.decoded.get("message-id"))
    if message_id is None:
        defects.append("no_message_id")
    if date is None:
        defects.append("bad_date" if "date" in headers.raw else "no_date")
    senders = addresses["from"]
    if not senders:
        defects.append("bad_from" if "from" in headers.raw else "no_from")
    return ParsedMail(
        message_id=message_id,
        subject=headers.decoded.get("subject", ""),
        from_addr=senders[0] if senders else None,
        to=addresses["to"],
        cc=addresses["cc"],
        reply_to=addresses["reply-to"],
        in_reply_to=message_ids(strip_header_text(headers.raw.get("in-reply-to", ""))),
        references=message_ids(strip_header_text(headers.raw.get("references", ""))),
        date=date,
        headers=headers.decoded,
        repeated={name: tuple(values) for name, values in headers.repeated.items()},
        content_type=_content_type(message),
        text=body.text,
        new_text=new_text(body.text),
        attachments=body.attachments,
        defects=tuple(dict.fromkeys(defects)),
        size=mail.size,
    )


def _read_headers(message: Message, defects: list[str]) -> _Headers:
    """One pass over the raw header block: first value of each name, decoded and cleaned."""
    headers = _Headers()
    for name, value in message.raw_items():
        key = strip_header_text(str(name)).lower()
        if key in REPEATED and len(headers.repeated.get(key, ())) < _MAX_REPEATED:
            value_text = strip_header_text(decode_value(str(value)[:_MAX_HEADER_VALUE]))
            headers.repeated.setdefault(key, []).append(value_text)
        if not key or key in headers.raw:
            continue
        if len(headers.raw) >= _MAX_HEADER_NAMES:
            defects.append("too_many_headers")
            break
        text = str(value)
        headers.raw[key] = text
        if not text.isascii():
            defects.append(f"8bit_header: {key}")
        if key in _DECODED_HEADERS and "=?" in text:
            defects.extend(f"bad_charset: {c} ({key})" for c in unknown_charsets(text))
        # Decoding is per character for non-ASCII text: cut a huge value before, not after.
        headers.decoded[key] = decode_value(text[: _MAX_HEADER_VALUE * 4])[:_MAX_HEADER_VALUE]
    return headers


def _pairs(value: Any) -> list[tuple[str, str]]:
    """mail-parser's address list, tolerating the shapes it returns for odd headers."""
    if not isinstance(value, list):
        return []
    return [
        (str(item[0]), str(item[1]))
        for item in value
        if isinstance(item, tuple | list) and len(item) == 2
    ]


def _mime_defects(found: list[Any]) -> list[str]:
    """mail-parser's nested defect records as short codes, without any message text."""
    codes: list[str] = []
    for record in found:
        if not isinstance(record, dict):
            continue
        for where, items in record.items():
            for item in items if isinstance(items, list) else [items]:
                codes.append(_defect_code(str(where), str(item)))
    return codes


def _decoding_defects(message: Message) -> list[str]:
    """Defects the stdlib records while decoding parts (bad base64), after mail-parser's walk."""
    codes: list[str] = []
    for part in message.walk():
        where = part.get_content_type()
        codes.extend(_part_defect_code(type(d).__name__, where) for d in part.defects)
    return codes


def _defect_code(where: str, item: str) -> str:
    category = item.split(":", 1)[0].strip()
    if category == "CharsetDecodeDefect":
        charset = item.split("charset ", 1)[-1].split(" ", 1)[0].strip("'\";,")
        return f"bad_charset: {strip_header_text(charset)[:40]}"
    if category in {"AddressHeaderDefect", "ReceivedHeaderDefect", "DateHeaderDefect"}:
        return f"header_defect: {category}"
    return _part_defect_code(category, where)


def _part_defect_code(category: str, where: str) -> str:
    kind = "bad_base64" if category.startswith("InvalidBase64") else "mime_defect"
    return f"{kind}: {strip_header_text(category)[:60]} ({strip_header_text(where)[:60]})"


def _attachment(item: dict[str, Any], mail: Slimmed) -> AttachmentInfo:
    """Name, type and decoded size of one attachment, sized from its base64 without decoding."""
    payload = str(item.get("payload") or "")
    if item.get("binary") and item.get("content_transfer_encoding") == "base64":
        size = _base64_size(payload, mail)
    else:
        size = mail.wire_length(payload)
    name = decode_value(str(item.get("filename") or ""))
    # mail-parser invents random names for unnamed parts; a stable empty name is better.
    if _INVENTED_NAME.fullmatch(name) and name.encode() not in mail.raw:
        name = ""
    content_type = strip_header_text(str(item.get("mail_content_type") or "")).lower()
    return AttachmentInfo(filename=name, content_type=content_type, size=size)


def _walk(message: Message, mail: Slimmed, defects: list[str]) -> _Body:
    """The stdlib fallback's MIME walk: text parts decoded, attachments sized."""
    plain: list[str] = []
    markup: list[str] = []
    attachments: list[AttachmentInfo] = []
    for part in message.walk():
        if part.is_multipart():
            continue
        filename = part.get_filename()
        if filename or part.get_content_disposition() == "attachment":
            name = decode_value(str(filename or ""))
            size = _part_size(part, mail)
            attachments.append(AttachmentInfo(name, part.get_content_type(), size))
        elif part.get_content_type() in ("text/plain", "text/html"):
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            text = _decode_part(data, part.get_content_charset() or "utf-8")
            (plain if part.get_content_subtype() == "plain" else markup).append(text)
    text = "\n".join(plain)
    if not text.strip() and markup:
        text = _from_html(markup, defects)
    return _Body(clean_text(text), tuple(attachments))


def _from_html(parts: list[str], defects: list[str]) -> str:
    return html_to_text("\n".join(parts), defects)


def _part_size(part: Message, mail: Slimmed) -> int:
    """Decoded size of an attachment; base64 is sized from its length, not decoded."""
    encoding = str(part.get("content-transfer-encoding", "")).strip().lower()
    if encoding == "base64":
        wire = part.get_payload()
        return _base64_size(wire, mail) if isinstance(wire, str) else 0
    payload = part.get_payload(decode=True)
    return len(payload) if isinstance(payload, bytes) else 0


def _base64_size(payload: str, mail: Slimmed) -> int:
    size = mail.decoded_size(payload)
    return base64_size(payload) if size is None else size


def _decode_part(data: bytes, charset: str) -> str:
    try:
        return data.decode(charset, "replace")
    # An unknown name raises LookupError; a name with a NUL byte in it, ValueError.
    except (LookupError, ValueError):
        return data.decode("utf-8", "replace")


def _content_type(message: Message) -> str:
    try:
        return strip_header_text(message.get_content_type()).lower()[:100]
    except (ValueError, TypeError, AttributeError):
        return "text/plain"


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def _stdlib_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return _aware(parsedate_to_datetime(decode_value(value)))
    except (ValueError, TypeError, IndexError, OverflowError):
        return None
