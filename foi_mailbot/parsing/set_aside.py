"""Large base64 attachments set aside before MIME parsing: the parser reads a short stand-in.

Parsing needs an attachment's name, type and size, never its content. The email package
(under mail-parser) holds a part as a list of lines and then as one joined string, so a 5 MB
attachment cost about 35 MB and two thirds of the message's parse time. `set_aside` replaces
the base64 body of each attachment of at least `SET_ASIDE_FROM` bytes by one line naming it,
and keeps what `parse` reports of it (its decoded size). A body is set aside only when nothing
is lost: its part's own headers say base64 and name an attachment that is not plain text or
HTML, and every byte of it is base64 or a line break. Anything else is parsed as it came.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

SET_ASIDE_FROM = 64 * 1024
"""Bodies shorter than this are parsed in place (and so is any message shorter than it)."""

_STAND_IN = b"FoiMailbotSetAside"
# Base64 in lines: its size is then what `body.base64_size` says, counting only line breaks.
_BASE64_BODY = re.compile(rb"[A-Za-z0-9+/=\r\n]*")
_BASE64_HEADER = re.compile(rb"(?i)content-transfer-encoding:[ \t]*base64[ \t]*\r?")
# A plain or HTML part may be read as body text; a container's parts are found by parsing it.
_BODY_TYPE = re.compile(
    rb"(?i)^content-type:[ \t]*(?:text/(?:plain|html)|multipart/|message/)", re.M
)
_ATTACHMENT = re.compile(
    rb"(?i)(?:file)?name\*?[0-9]*\*?[ \t]*=|^content-disposition:[ \t]*attachment|^content-id:",
    re.M,
)
# A part's header block is short; a longer look-around means we are not in one.
_HEADER_REACH = 8 * 1024
# Each declaration costs a look at its header block; hostile mail could declare thousands
# (and is read headers-only past `parsing._MAX_MULTIPARTS` anyway).
_MAX_DECLARATIONS = 200


@dataclass(frozen=True)
class _Aside:
    """What was kept of one body set aside."""

    decoded_size: int
    wire_length: int


@dataclass(frozen=True)
class Slimmed:
    """A message with its large attachment bodies replaced by stand-ins."""

    raw: bytes
    size: int
    """The length of the message as it came."""
    aside: dict[str, _Aside] = field(default_factory=dict)

    def decoded_size(self, payload: str) -> int | None:
        """The decoded size of the body this payload stands in for (None: it stands for none)."""
        kept = self.aside.get(payload.strip()) if self.aside else None
        return kept.decoded_size if kept else None

    def wire_length(self, payload: str) -> int:
        """The payload's length in bytes with every stand-in in it put back as it was."""
        length = len(payload.encode("utf-8", "surrogateescape"))
        for name, kept in self.aside.items():
            length += payload.count(name) * (kept.wire_length - len(name))
        return length


def set_aside(raw: bytes) -> Slimmed:
    """`raw` with each large base64 attachment body replaced by a stand-in line."""
    if len(raw) < SET_ASIDE_FROM or _STAND_IN in raw:
        return Slimmed(raw, len(raw))
    pieces: list[bytes] = []
    aside: dict[str, _Aside] = {}
    done = 0
    for line_start, line_end in _encoding_lines(raw):
        body = _attachment_body(raw, line_start, line_end)
        if body is None or body[0] < done:
            continue
        start, end = body
        name = b"%s%dx" % (_STAND_IN, len(aside))  # "1x" is no prefix of "10x"
        aside[name.decode()] = _Aside(_decoded_size(raw, start, end), end - start)
        pieces += (raw[done:start], name)
        done = end
    if not aside:
        return Slimmed(raw, len(raw))
    pieces.append(raw[done:])
    return Slimmed(b"".join(pieces), len(raw), aside)


def _encoding_lines(raw: bytes) -> Iterator[tuple[int, int]]:
    """Where each line declaring base64 starts and ends, in order."""
    # A plain search runs at memory speed where a case-blind regex crawls; a header in
    # any other capitalisation is parsed in place, which is only slower.
    at = raw.find(b"ransfer-")
    looked = 0
    while at >= 0 and looked < _MAX_DECLARATIONS:
        looked += 1
        line_start = raw.rfind(b"\n", 0, at) + 1
        line_end = raw.find(b"\n", at)
        if line_end > 0 and _BASE64_HEADER.fullmatch(raw, line_start, line_end):
            yield line_start, line_end
        at = raw.find(b"ransfer-", at + 1)


def _attachment_body(raw: bytes, header_at: int, header_end: int) -> tuple[int, int] | None:
    """Where the body under this Content-Transfer-Encoding line starts and ends, if set aside."""
    reach = max(0, header_at - _HEADER_REACH)
    block_start = max(raw.rfind(b"\n--", reach, header_at), raw.rfind(b"\n\n", reach, header_at),
                      raw.rfind(b"\n\r\n", reach, header_at))
    if block_start < 0 and reach > 0:
        return None
    blank = [i for i in (raw.find(b"\n\n", header_end - 1, header_end + _HEADER_REACH),
                         raw.find(b"\n\r\n", header_end - 1, header_end + _HEADER_REACH))
             if i >= 0]
    if not blank:
        return None
    block_end = min(blank)
    block = raw[max(block_start, 0):block_end]
    if _BODY_TYPE.search(block) or not _ATTACHMENT.search(block):
        return None
    start = raw.index(b"\n", block_end + 1) + 1
    end = raw.find(b"\n--", start)
    if end < 0:
        end = len(raw)
    elif end > start and raw[end - 1] == 0x0D:
        end -= 1  # the line break before a boundary belongs to the boundary
    if end - start < SET_ASIDE_FROM or not _BASE64_BODY.fullmatch(raw, start, end):
        return None
    return start, end


def _decoded_size(raw: bytes, start: int, end: int) -> int:
    """What `body.base64_size` says of raw[start:end], without copying it."""
    length = end - start - raw.count(b"\n", start, end) - raw.count(b"\r", start, end)
    padding = raw[max(start, end - 1024):end].rstrip()[-2:].count(b"=")
    return max(0, length * 3 // 4 - padding)
