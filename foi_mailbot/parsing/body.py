"""Body helpers for `parsing.parse`: HTML to text, the new part of a reply, attachment sizes.

`new_text` is what the sender wrote this time: quoted history, forwarded copies, the
WhatDoTheyKnow footer and the closing signature are cut off, so that classification reads a
phrase such as "internal review" only when the applicant wrote it now, not when it sits in our
own quoted letter.
"""

from __future__ import annotations

import html
import re
from functools import cache

import html2text
from mailparser_reply.parser import EmailMessage

# Reply headers sit near the top; the regexes below are not linear on long texts.
_SCAN_LIMIT = 20_000
_LIBRARY_SCAN_LIMIT = 8_000
# html2text is pure Python (~200 KB/s); beyond this a body is a document, and its start is enough.
HTML_LIMIT = 100_000
_HTML_NOISE = re.compile(r"<(style|script|head)\b.*?</\1\s*>|<!--.*?-->", re.IGNORECASE | re.DOTALL)
_SIGNATURE_WINDOW = 10

_QUOTE_HEADER = re.compile(
    r"""
      ^[ \t>]*-{2,}[ \t]*(?:original|forwarded)[ \t]message[ \t]*-{2,}[ \t]*$
    | ^[ \t>]*begin[ \t]forwarded[ \t]message:?[ \t]*$
    | ^[ \t>]*on[ \t][^\n]{1,200}?(?:\n[^\n]{1,120}?)?[ \t](?:wrote|writes)[ \t]?:[ \t]*$
    | ^[ \t>]*\**from:\**[ \t][^\n]*\n[ \t>]*\**(?:sent|date):\**[ \t]
    | ^[ \t]*-{5,}[ \t]*\n\s*please[ \t]use[ \t]this[ \t]email[ \t]address[ \t]for[ \t]all
    | ^[ \t]*please[ \t]use[ \t]this[ \t]email[ \t]address[ \t]for[ \t]all[ \t]replies
    """,
    re.IGNORECASE | re.MULTILINE | re.VERBOSE,
)
_LIBRARY_HINTS = ("wrote:", "from:", "original message")
_SIGN_OFF = re.compile(
    r"(?i:(?:(?:kind|best|warm|warmest|many|with)\s+)?(?:regards|wishes|thanks)"
    r"|yours\s+(?:faithfully|sincerely|truly)|thank\s+you|thanks|cheers|sincerely|best)"
    r"[,.!]?(?:\s*,?\s*[A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*){0,2})?"
)
_SENT_FROM = re.compile(r"(?i)^(?:sent from my|get outlook for|sent from outlook)\b")
_SEPARATOR = re.compile(r"^[\s_\-=*]*$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BLANK_RUN = re.compile(r"\n{3,}")


def html_to_text(markup: str, defects: list[str] | None = None) -> str:
    """Readable text from an HTML body: links kept, no wrapping.

    Only the first HTML_LIMIT characters are converted (after style, script and head blocks
    are dropped); when more was cut, "html_truncated" is added to `defects`.
    """
    # Outlook's style blocks and conditional comments are often most of the markup.
    markup = _HTML_NOISE.sub(" ", markup)
    if len(markup) > HTML_LIMIT:
        markup = markup[:HTML_LIMIT]
        if defects is not None:
            defects.append("html_truncated")
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.unicode_snob = True
    try:
        return str(converter.handle(markup))
    # html2text is a third-party parser fed untrusted markup; on any failure, strip the tags.
    except Exception:  # noqa: BLE001
        return html.unescape(re.sub(r"<[^>]*>", " ", markup))


def clean_text(text: str) -> str:
    """Unix newlines, no control characters or lone surrogates: text any database can store."""
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    if not text.isascii():
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def new_text(text: str) -> str:
    """The part of a body the sender wrote this time: no quotes, footer or signature."""
    head = text[:_SCAN_LIMIT]
    cut = _quote_start(head)
    if cut is not None:
        head = head[:cut]
    lines = [line.rstrip() for line in head.split("\n") if not line.lstrip().startswith(">")]
    lines = _drop_signature(lines)
    return _BLANK_RUN.sub("\n\n", "\n".join(lines)).strip()


def _quote_start(text: str) -> int | None:
    """Where quoted history starts, by our patterns or mail-parser-reply's, whichever is first."""
    positions = []
    own = _QUOTE_HEADER.search(text)
    if own:
        positions.append(own.start())
    limited = text[:_LIBRARY_SCAN_LIMIT]
    lowered = limited.lower()
    if any(hint in lowered for hint in _LIBRARY_HINTS):
        for found in _library_header_regex().finditer(limited):
            block = found.group(0)
            if _is_reply_header(block):
                positions.append(found.start() + len(block) - len(block.lstrip()))
                break
    return min(positions) if positions else None


def _is_reply_header(block: str) -> bool:
    """False for "From: January 2020 / To: March 2021" in a request, which looks like headers."""
    lowered = block.lower()
    if "wrote:" in lowered or "original message" in lowered:
        return True
    return any(marker in lowered for marker in ("sent:", "date:", "subject:", "@"))


@cache
def _library_header_regex() -> re.Pattern[str]:
    """mail-parser-reply's English reply-header pattern ("On ... wrote:", Outlook headers)."""
    pattern: re.Pattern[str] = EmailMessage(text="", languages=["en"]).HEADER_REGEX
    return pattern


def _drop_signature(lines: list[str]) -> list[str]:
    """Cut a closing sign-off, a "-- " block or a "Sent from my phone" line near the end."""
    while lines and (not lines[-1].strip() or _SEPARATOR.match(lines[-1])):
        lines.pop()
    content = [i for i, line in enumerate(lines) if line.strip()]
    if len(content) < 2:
        return lines
    first = content[0]
    window = content[-_SIGNATURE_WINDOW:]
    for index in window:
        stripped = lines[index].strip()
        if index == first:
            continue
        if stripped in ("--", "-- ") or _SENT_FROM.match(stripped):
            return lines[:index]
        if _SIGN_OFF.fullmatch(stripped):
            return lines[:index]
    return lines


def base64_size(payload: str) -> int:
    """Decoded size of a base64 payload, estimated from its length (no decoding)."""
    length = len(payload)
    for ws in "\r\n \t":
        length -= payload.count(ws)
    padding = payload.rstrip()[-2:].count("=")
    return max(0, length * 3 // 4 - padding)
