"""Header decoding for `parsing.parse`: RFC 2047 words, 8-bit bytes, addresses and Message-IDs.

Everything here takes what a hostile or broken sender wrote and returns clean text: no CR, LF or
control characters (so a value can never inject a header into mail we send), addresses
lower-cased, Message-IDs without angle brackets. Problems are reported as short defect codes
rather than raised. The outbound code imports `strip_header_text` for subjects and names.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Iterable
from email.errors import MessageError
from email.header import decode_header, make_header
from email.utils import getaddresses

from foi_mailbot.parsing.parsed import Address

_WHITESPACE = re.compile(r"\s+")
_ENCODED_WORD_CHARSET = re.compile(r"=\?([^?\s]{1,40})\?[bqBQ]\?")
_ANGLE_ID = re.compile(r"<([^<>]*)>")
_SURROGATE = re.compile(r"[\udc80-\udcff]")
# Whitespace controls and Unicode line separators become a space; other controls are dropped.
_LINE_BREAKING = frozenset("\t\n\x0b\x0c\r\u0085\u2028\u2029")
# Control characters, and lone surrogates (undecodable bytes no database can store).
_DROPPED_CATEGORIES = frozenset({"Cc", "Cs"})


def strip_header_text(value: str) -> str:
    """Remove CR, LF and other control characters, and collapse runs of whitespace."""
    if value.isascii() and value.isprintable():
        return " ".join(value.split())
    cleaned = "".join(
        " " if ch in _LINE_BREAKING else ch
        for ch in value
        if ch in _LINE_BREAKING or unicodedata.category(ch) not in _DROPPED_CATEGORIES
    )
    return _WHITESPACE.sub(" ", cleaned).strip()


def repair_8bit(value: str) -> str:
    """Turn raw 8-bit header bytes (kept by the stdlib as surrogates) into text.

    Such bytes are most often UTF-8, otherwise Windows-1252 (Outlook's Latin-1), which decodes
    any byte, so nothing is dropped.
    """
    if value.isascii() or not _SURROGATE.search(value):
        return value
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return value  # surrogates that are not smuggled bytes; strip_header_text drops them
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace")


def unknown_charsets(raw: str) -> list[str]:
    """Charset names in RFC 2047 encoded words that Python has no codec for."""
    bad: list[str] = []
    for name in _ENCODED_WORD_CHARSET.findall(raw):
        charset = name.split("*", 1)[0]
        try:
            codecs.lookup(charset)
        # Unknown names raise LookupError; names with NUL or raw bytes, ValueError.
        except (LookupError, ValueError):
            bad.append(strip_header_text(repair_8bit(charset)))
    return bad


def decode_value(value: str) -> str:
    """Decode RFC 2047 words and 8-bit bytes into one clean line of text."""
    text = repair_8bit(value)
    if "=?" in text:
        text = _decode_words(text)
    return strip_header_text(text)


def _decode_words(text: str) -> str:
    try:
        return str(make_header(decode_header(text)))
    except (ValueError, LookupError, MessageError):
        pass
    # An unknown charset or broken bytes: decode each word as best we can, keep the rest.
    try:
        parts = decode_header(text)
    except (ValueError, LookupError, MessageError):
        return text
    out = []
    for chunk, charset in parts:
        if isinstance(chunk, str):
            out.append(chunk)
        else:
            try:
                # Unencoded runs come back from decode_header as raw-unicode-escape bytes.
                out.append(chunk.decode(charset or "raw-unicode-escape"))
            except (LookupError, ValueError):
                out.append(chunk.decode("utf-8", "replace"))
    return " ".join(part.strip() for part in out)


def normalise_message_id(value: str | None) -> str | None:
    """A Message-ID without angle brackets or whitespace; None when nothing is left."""
    if not value:
        return None
    match = _ANGLE_ID.search(value)
    inner = match.group(1) if match else value
    cleaned = "".join(strip_header_text(inner).split())
    return cleaned or None


def message_ids(value: str | None) -> tuple[str, ...]:
    """Every Message-ID in an In-Reply-To or References value, in order, without duplicates."""
    if not value:
        return ()
    found = _ANGLE_ID.findall(value)
    if not found:
        # Some clients omit the brackets; then the ids are whitespace-separated tokens.
        found = [token for token in re.split(r"[\s,]+", value) if "@" in token]
    ids = (normalise_message_id(item) for item in found)
    return tuple(dict.fromkeys(i for i in ids if i))


def make_address(name: str, email: str) -> Address | None:
    """An Address with a clean display name and lower-cased email, or None if there is none."""
    email = "".join(strip_header_text(repair_8bit(email)).split()).strip("<>").lower()
    if not email:
        return None
    display = decode_value(name) if name else ""
    if display.lower() == email:
        display = ""
    return Address(name=display, email=email)


def addresses_from_pairs(pairs: Iterable[tuple[str, str]]) -> tuple[Address, ...]:
    """Addresses from (display name, email) pairs, dropping empty and repeated ones."""
    seen: dict[str, Address] = {}
    for name, email in pairs:
        address = make_address(str(name or ""), str(email or ""))
        if address is not None and address.email not in seen:
            seen[address.email] = address
    return tuple(seen.values())


def addresses_from_header(value: str | None) -> tuple[Address, ...]:
    """Addresses from a raw header value (used when mail-parser could not run)."""
    if not value:
        return ()
    text = repair_8bit(str(value))
    try:
        pairs = getaddresses([text])
    except (ValueError, IndexError, TypeError):
        return ()
    return addresses_from_pairs(pairs)


def format_addresses(addresses: Iterable[Address]) -> str:
    """Addresses as one header-style line, for the headers map."""
    return ", ".join(f"{a.name} <{a.email}>" if a.name else a.email for a in addresses)


# A blank line with either line end. One search that stops at the first: looking for each kind
# in turn read the whole of every message written with the other.
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
# The first Message-ID field of a header block, with its continuation lines: what the email
# package's header parser gives for it, for a tenth of the work (it reads every field).
_MESSAGE_ID_FIELD = re.compile(rb"^message-id[ \t]*:(.*(?:\r?\n[ \t].*)*)", re.I | re.M)


def header_block(raw: bytes) -> bytes:
    """The bytes before the first blank line (the whole message if there is none); no copy of
    the body is made."""
    blank = _BLANK_LINE.search(raw)
    return raw[: blank.start()] if blank is not None else raw


def header_message_id(raw: bytes) -> str | None:
    """The Message-ID from the header block alone (cheap; never raises)."""
    found = _MESSAGE_ID_FIELD.search(header_block(raw))
    if found is None:
        return None
    value = found.group(1).decode("ascii", "surrogateescape")
    cleaned = "".join(str(value).split()).strip("<>")
    return cleaned[:990] or None
