"""One-shot import: turns .eml files, mbox files and Maildirs on disk into `RawMail`.

Used by the CLI to load a backlog (for example an export from the old mailbox) through the same
pipeline as live mail; there is nothing to mark done, and the ingest stage dedupes repeats by
source key and Message-ID. A directory that is not a Maildir is walked for `.eml` files, mbox
files and Maildirs only; anything that is not mail (empty, binary, no header block) is named
and skipped, never opened as a case (see `survey`).

A file's arrival time is its most recent `Received` header (the one our own server added, at
the top), else its `Date` header, else the file's time (`arrival`); an mbox message's is its
From_ line's date, else the file's time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Final, Literal

from foi_mailbot.errors import UsageError
from foi_mailbot.sources import RawMail
from foi_mailbot.sources.maildir import file_time, maildir_key, new_files

Kind = Literal["eml", "mbox", "maildir", "directory"]
Skip = Callable[[Path, str], None]

DEFAULT_MAILBOX: Final = "import"
_BLANK: Final = (b"\n", b"\r\n")
_MONTHS: Final = {
    name: number
    for number, name in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
        start=1,
    )
}
_WEEKDAYS: Final = frozenset({"mon", "tue", "wed", "thu", "fri", "sat", "sun"})


def iter_paths(
    paths: Sequence[Path], *, mailbox: str = DEFAULT_MAILBOX, skipped: Skip | None = None
) -> Iterator[RawMail]:
    """Every message in the given files and directories, in a stable order; each file that is
    not mail is passed to `skipped` with the reason instead."""
    for path in paths:
        yield from _iter_one(path, mailbox, skipped or (lambda _p, _r: None))


def count_paths(paths: Sequence[Path]) -> int:
    """How many messages `iter_paths` will yield; reads only mbox files (line by line)."""
    total = 0
    for path in paths:
        kind = detect(path)
        if kind == "eml":
            total += not_mail(path) is None
        elif kind == "mbox":
            total += sum(1 for _ in _from_lines(path))
        elif kind == "maildir":
            total += len(new_files(path / "new")) + len(new_files(path / "cur"))
        else:
            total += count_paths([c for c in _children(path) if _walked(c)])
    return total


def detect(path: Path) -> Kind:
    """What a path holds: a Maildir (cur/ and new/), a plain directory, an mbox, or one message."""
    if not path.exists():
        msg = f"{path} does not exist"
        raise UsageError(msg)
    if path.is_dir():
        return "maildir" if (path / "cur").is_dir() and (path / "new").is_dir() else "directory"
    with path.open("rb") as handle:
        return "mbox" if handle.read(5) == b"From " else "eml"


def _iter_one(path: Path, mailbox: str, skipped: Skip) -> Iterator[RawMail]:
    kind = detect(path)
    if kind == "eml":
        reason = not_mail(path)
        if reason is None:
            yield _eml(path, mailbox)
        else:
            skipped(path, reason)
    elif kind == "mbox":
        yield from _mbox(path, mailbox)
    elif kind == "maildir":
        yield from _maildir(path, mailbox)
    else:
        for child in _children(path):
            if _walked(child):
                yield from _iter_one(child, mailbox, skipped)
            else:
                skipped(child, "not an .eml file, an mbox or a Maildir")


_MBOX_NAMES: Final = frozenset({"mbox", "inbox", "sent"})
_HEADER_LINE: Final = re.compile(rb"^[!-9;-~]+:")
_MAIL_HEADERS: Final = (b"from", b"date", b"message-id", b"received", b"subject", b"return-path")


def _walked(path: Path) -> bool:
    """In a directory, only .eml files, mboxes and Maildirs are mail (or folders of them)."""
    if path.is_dir():
        return True
    name = path.name.lower()
    return name.endswith((".eml", ".mbox")) or name in _MBOX_NAMES or detect(path) == "mbox"


def not_mail(path: Path) -> str | None:
    """Why a file is not one message (empty, binary, no header block), or None if it is."""
    with path.open("rb") as handle:
        head = handle.read(16384)
    if not head.strip():
        return "empty"
    if b"\0" in head:
        return "binary (it holds NUL bytes)"
    block = head.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    lines = block.split(b"\n")
    names = {line.split(b":", 1)[0].strip().lower() for line in lines if _HEADER_LINE.match(line)}
    if not _HEADER_LINE.match(lines[0]) or not names.intersection(_MAIL_HEADERS):
        return "no mail header block (From, Date, Message-ID, Received...)"
    return None


def arrival(raw: bytes, fallback: datetime) -> tuple[datetime, str]:
    """When a message reached its mailbox, and from where that was read."""
    headers = BytesHeaderParser().parsebytes(raw)
    received = headers.get_all("Received") or []
    if received:
        stamp = _when(str(received[0]).rpartition(";")[2])
        if stamp is not None:
            return stamp, "its most recent Received header"
    stamp = _when(str(headers.get("Date", "")))
    if stamp is not None:
        return stamp, "its Date header (no usable Received header)"
    return fallback, "the file's time (no usable Received or Date header)"


def _when(text: str) -> datetime | None:
    try:
        stamp = parsedate_to_datetime(" ".join(text.split()))
    except (TypeError, ValueError, IndexError):
        return None
    return stamp.astimezone(UTC) if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _children(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if not p.name.startswith("."))


def _raw(key: str, mailbox: str, folder: Path, arrived: datetime, raw: bytes) -> RawMail:
    return RawMail(
        source_key=key,
        mailbox=mailbox,
        folder=str(folder),
        uidvalidity=None,
        uid=None,
        arrived_at=arrived,
        raw=raw,
        direction="inbound",
    )


def _eml(path: Path, mailbox: str) -> RawMail:
    full = path.absolute()
    raw = full.read_bytes()
    return _raw(f"file:{full}", mailbox, full.parent, arrival(raw, file_time(full))[0], raw)


def _maildir(path: Path, mailbox: str) -> Iterator[RawMail]:
    root = path.absolute()
    for sub in ("cur", "new"):
        for file in new_files(root / sub):
            key = f"maildir:{root}:{maildir_key(file.name)}"
            raw = file.read_bytes()
            yield _raw(key, mailbox, root, arrival(raw, file_time(file))[0], raw)


def _mbox(path: Path, mailbox: str) -> Iterator[RawMail]:
    full = path.absolute()
    fallback = file_time(full)
    for index, (from_line, raw) in enumerate(_messages(full)):
        arrived = from_line_date(from_line) or fallback
        yield _raw(f"mbox:{full}:{index}", mailbox, full, arrived, raw)


def _from_lines(path: Path) -> Iterator[bytes]:
    """The "From " separator lines of an mbox: at the start, or after a blank line."""
    previous_blank = True
    with path.open("rb") as handle:
        for line in handle:
            if previous_blank and line.startswith(b"From "):
                yield line
            previous_blank = line in _BLANK


def _messages(path: Path) -> Iterator[tuple[bytes, bytes]]:
    """(From_ line, message bytes) for each message; bodies keep their ">From " escapes.

    Like the stdlib `mailbox.mbox`, the blank line before the next separator is dropped, but
    the file is streamed, so a multi-gigabyte export never sits in memory at once.
    """
    separator: bytes | None = None
    lines: list[bytes] = []
    previous_blank = True
    with path.open("rb") as handle:
        for line in handle:
            if previous_blank and line.startswith(b"From "):
                if separator is not None:
                    yield separator, _join(lines)
                separator, lines = line, []
            elif separator is not None:
                lines.append(line)
            previous_blank = line in _BLANK
    if separator is not None:
        yield separator, _join(lines)


def _join(lines: list[bytes]) -> bytes:
    if lines and lines[-1] in _BLANK:
        lines = lines[:-1]
    return b"".join(lines)


def from_line_date(line: bytes) -> datetime | None:
    """The date on an mbox "From sender Mon Jan  5 09:12:50 2026" line, taken as UTC.

    The asctime form carries no zone; a numeric zone before the year is honoured when present.
    """
    tokens = line.decode("ascii", "replace").split()
    for start, token in enumerate(tokens):
        # A sender such as "monica@..." also starts with a weekday, so try each candidate.
        if token[:3].lower() in _WEEKDAYS:
            stamp = _asctime(tokens[start + 1 : start + 6])
            if stamp is not None:
                return stamp
    return None


def _asctime(tokens: list[str]) -> datetime | None:
    """Parse [month, day, hh:mm:ss, year] or [month, day, hh:mm:ss, zone, year]."""
    try:
        month = _MONTHS[tokens[0][:3].lower()]
        day = int(tokens[1])
        hour, minute, second = (int(part) for part in tokens[2].split(":"))
        zone = tokens[3] if len(tokens) > 4 and tokens[3][:1] in "+-" else None
        year = int(tokens[4] if zone else tokens[3])
        stamp = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        if zone:
            offset = datetime.strptime(zone, "%z").utcoffset()
            stamp = stamp - offset if offset else stamp
    except (KeyError, ValueError, IndexError):
        return None
    return stamp
