"""Mail sources: where raw messages come from (IMAP, a local Maildir, files), one Protocol."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

Direction = Literal["inbound", "sent"]


@dataclass(frozen=True)
class RawMail:
    """One message exactly as the source holds it, with where it came from.

    `source_key` is unique per copy in the source, e.g.
    `imap:foi@example.org@imap.example.org/INBOX/1700000000/42` or `maildir:/srv/mail:1700.M1P2`.
    `arrived_at` is the server's arrival time (IMAP INTERNALDATE; Maildir file time), aware UTC.
    `history`: it was there before the service started on the mailbox (see `sources.start`).
    """

    source_key: str
    mailbox: str
    folder: str
    uidvalidity: int | None
    uid: int | None
    arrived_at: datetime
    raw: bytes
    direction: Direction
    history: bool = False


class CheckpointStore(Protocol):
    """Remembers, per mailbox folder, the UIDVALIDITY and the highest UID fully stored."""

    def get(self, mailbox: str, folder: str) -> tuple[int, int] | None:
        """(UIDVALIDITY, last UID) for a folder, or None before its first message."""
        ...

    def set(self, mailbox: str, folder: str, uidvalidity: int, last_uid: int) -> None:
        """Remember that every UID up to `last_uid` is stored."""
        ...


class MailSource(Protocol):
    """A watched mailbox. Only the daemon loop calls it."""

    name: str

    def fetch_new(self) -> Iterator[RawMail]:
        """Yield messages not yet handed over (inbox, then sent), oldest first."""
        ...

    def mark_done(self, mail: RawMail) -> None:
        """Called after the raw bytes are committed: move to processed/cur, or flag."""
        ...

    def wait(self, timeout: float, stop: threading.Event) -> None:
        """Block until new mail may be there (IDLE or a poll interval), timeout, or stop."""
        ...

    def close(self) -> None:
        """Release connections; safe to call twice."""
        ...
