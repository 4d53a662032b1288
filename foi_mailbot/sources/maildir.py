"""Maildir source: the embedded default mailbox, first stage of the pipeline without a server.

The local MTA (or anything else) delivers into `new/`; `fetch_new` hands those files over oldest
first, and `mark_done` moves each to `cur/` with the Seen flag only after its raw row has
committed, so a crash in between means the file is simply read again. A Maildir++ `.Sent`
subfolder, if present, is read the same way as sent mail. Files already in `new/` at the first
start are history under `[mailbox] start = "new"` (left where they are) or `"import"` (stored as
history); see `sources.start`.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import structlog

from foi_mailbot.clock import Clock
from foi_mailbot.sources import Direction, RawMail
from foi_mailbot.sources.start import Start, StartPoint

log = structlog.get_logger(__name__)

POLL_SECONDS: Final = 0.5
# Directory times can be coarse on some file systems; list new/ anyway every this many polls.
FULL_CHECK_EVERY: Final = 10
SENT_SUBFOLDER: Final = ".Sent"
INFO_PREFIX: Final = ":2,"


def maildir_key(filename: str) -> str:
    """The stable part of a Maildir file name (before the ":2,flags" info)."""
    return filename.split(":", 1)[0]


def create_maildir(path: Path) -> None:
    """Create `path` with its tmp/new/cur subdirectories if any are missing."""
    for sub in ("tmp", "new", "cur"):
        (path / sub).mkdir(mode=0o700, parents=True, exist_ok=True)


def new_files(directory: Path) -> list[Path]:
    """Message files in a Maildir `new/` or `cur/` directory, oldest first by mtime, then name."""
    found: list[tuple[int, str, Path]] = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            if entry.is_file():
                found.append((entry.stat().st_mtime_ns, entry.name, Path(entry.path)))
        except FileNotFoundError:
            continue  # moved away by another reader meanwhile
    return [path for _, _, path in sorted(found)]


def file_time(path: Path) -> datetime:
    """A file's modification time as aware UTC (Maildir delivery time)."""
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


class MaildirSource:
    """See `MailSource`: a local Maildir (and its `.Sent` subfolder, if any)."""

    def __init__(
        self, path: Path, mailbox_name: str, clock: Clock, *, start: StartPoint | None = None
    ) -> None:
        self.path = path.absolute()
        self.name = mailbox_name
        self._clock = clock
        create_maildir(self.path)
        self._handed_over: set[str] = set()
        self.last_sync: datetime | None = None
        # What new/ held at the first start (see `sources.start`); None: all new.
        self.start = start
        self._starts: dict[str, Start | None] = {}

    def fetch_new(self) -> Iterator[RawMail]:
        """See `MailSource.fetch_new`: files in new/, inbox first, oldest first."""
        self._handed_over = set()
        for folder, root, direction in self._folders():
            begun = self._start_of(folder, root)
            for path in new_files(root / "new"):
                held = begun is not None and maildir_key(path.name) in begun.keys
                if direction == "inbound":
                    self._handed_over.add(path.name)
                if held and begun is not None and begun.mode == "new":
                    continue  # history: left in new/, never answered
                try:
                    raw, arrived = path.read_bytes(), file_time(path)
                except FileNotFoundError:
                    continue
                yield RawMail(
                    source_key=f"maildir:{root}:{maildir_key(path.name)}",
                    mailbox=self.name,
                    folder=folder,
                    uidvalidity=None,
                    uid=None,
                    arrived_at=arrived,
                    raw=raw,
                    direction=direction,
                    history=held,
                )
        self.last_sync = self._clock.now()

    def mark_done(self, mail: RawMail) -> None:
        """See `MailSource.mark_done`: move the file from new/ to cur/ with the Seen flag."""
        root = self.path / SENT_SUBFOLDER if mail.folder == "Sent" else self.path
        key = mail.source_key.rsplit(":", 1)[1]
        current = _find(root / "new", key)
        if current is None:
            if _find(root / "cur", key) is None:
                log.warning("maildir.mark_done_missing", folder=mail.folder, key=key)
            return
        current.rename(root / "cur" / (key + INFO_PREFIX + _flags_with_seen(current.name)))

    def wait(self, timeout: float, stop: threading.Event) -> None:
        """See `MailSource.wait`: poll new/ every half second for a file not yet handed over."""
        deadline = time.monotonic() + max(0.0, timeout)
        new_dir = self.path / "new"
        seen_mtime: int | None = None
        for polls in itertools.count():
            mtime = _mtime_ns(new_dir)
            if (mtime != seen_mtime or polls % FULL_CHECK_EVERY == 0) and self._has_unseen(new_dir):
                return
            seen_mtime = mtime
            left = deadline - time.monotonic()
            if left <= 0 or stop.wait(min(POLL_SECONDS, left)):
                return

    def close(self) -> None:
        """See `MailSource.close`: nothing is held open."""

    def _start_of(self, folder: str, root: Path) -> Start | None:
        """The folder's start, recorded at the first start: the files then waiting in new/
        (none when cur/ holds mail already taken by an earlier version)."""
        if self.start is None or self.start.mode == "all":
            return None
        if folder not in self._starts:
            begun = self.start.load(self.name, str(root))
            if begun is None:
                waiting = [] if new_files(root / "cur") else new_files(root / "new")
                begun = Start(self.start.mode,
                              keys=frozenset(maildir_key(p.name) for p in waiting))
                self.start.save(self.name, str(root), begun)
                log.info("maildir.start_recorded", folder=folder, mode=begun.mode,
                         history=len(begun.keys))
            self._starts[folder] = begun
        return self._starts[folder]

    def _folders(self) -> list[tuple[str, Path, Direction]]:
        folders: list[tuple[str, Path, Direction]] = [("INBOX", self.path, "inbound")]
        sent = self.path / SENT_SUBFOLDER
        if (sent / "new").is_dir():
            folders.append(("Sent", sent, "sent"))
        return folders

    def _has_unseen(self, new_dir: Path) -> bool:
        try:
            names = [p.name for p in new_dir.iterdir()]
        except FileNotFoundError:
            return False
        return any(not n.startswith(".") and n not in self._handed_over for n in names)


def _find(directory: Path, key: str) -> Path | None:
    exact = directory / key
    if exact.exists():
        return exact
    try:
        names = [p.name for p in directory.iterdir()]
    except FileNotFoundError:
        return None
    for name in names:
        if maildir_key(name) == key:
            return directory / name
    return None


def _flags_with_seen(filename: str) -> str:
    """The file's Maildir flags plus S, in the required ASCII order."""
    _, _, info = filename.partition(":")
    flags = info[2:] if info.startswith("2,") else ""
    return "".join(sorted(set(flags) | {"S"}))


def _mtime_ns(directory: Path) -> int | None:
    try:
        return directory.stat().st_mtime_ns
    except FileNotFoundError:
        return None
