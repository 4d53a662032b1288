"""Where the service starts on a mailbox that already holds mail (`[mailbox] start`).

A shared mailbox taken over on a Monday holds last year's mail. At the first connection to each
folder the start is recorded: its UIDVALIDITY and UIDNEXT (IMAP) or the files waiting in `new/`
(Maildir), with the Message-IDs and header hashes of what was there. Then, by mode:

- `new`: what was there is history: never fetched, answered, moved or flagged. After the server
  renumbers the folder (a new UIDVALIDITY) the history is recognised by Message-ID or by the hash
  of its headers, read without the bodies, and still passed over.
- `import`: the history is fetched, stored and applied with `history` set: cases open with their
  real dates, and each is held "to confirm" (no letters, no reminders) until a person confirms it.
- `all`: everything is new mail (a fresh mailbox, or tests that fill one first).

The record lives in the service state table, one entry per mailbox folder.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy.orm import Session, sessionmaker

from foi_mailbot.clock import Clock
from foi_mailbot.parsing.headers import header_message_id
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.state import get_state, put_state

Mode = Literal["new", "import", "all"]


def header_hash(header: bytes) -> str:
    """A message's header block hashed with line endings made alike (a copy may change them)."""
    return hashlib.sha256(header.replace(b"\r\n", b"\n").rstrip(b"\n")).hexdigest()


@dataclass(frozen=True)
class Start:
    """What one folder held when the service first connected to it."""

    mode: Mode
    uidvalidity: int | None = None
    uidnext: int | None = None
    message_ids: frozenset[str] = field(default=frozenset())
    header_hashes: frozenset[str] = field(default=frozenset())
    keys: frozenset[str] = field(default=frozenset())  # Maildir file keys

    def holds(self, uidvalidity: int | None, uid: int | None) -> bool:
        """True when this UID was in the folder at the start (same numbering only)."""
        return (uid is not None and self.uidnext is not None
                and uidvalidity == self.uidvalidity and uid < self.uidnext)

    def renumbered(self, uidvalidity: int) -> bool:
        """True when the folder's UIDs are no longer those of the start."""
        return self.uidvalidity is not None and uidvalidity != self.uidvalidity

    def is_history(self, message_id: str | None, hashed: str) -> bool:
        """True when a message (by Message-ID or header hash) was there at the start."""
        return hashed in self.header_hashes or bool(message_id and message_id in self.message_ids)

    def as_json(self) -> dict[str, Any]:
        """The stored form."""
        return {"mode": self.mode, "uidvalidity": self.uidvalidity, "uidnext": self.uidnext,
                "message_ids": sorted(self.message_ids),
                "header_hashes": sorted(self.header_hashes), "keys": sorted(self.keys)}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Start:
        """Read the stored form."""
        return cls(mode=value["mode"], uidvalidity=value.get("uidvalidity"),
                   uidnext=value.get("uidnext"),
                   message_ids=frozenset(value.get("message_ids", ())),
                   header_hashes=frozenset(value.get("header_hashes", ())),
                   keys=frozenset(value.get("keys", ())))


def state_key(mailbox: str, folder: str) -> str:
    """The service-state key of a folder's start (keys are short; names may be long)."""
    return "start:" + hashlib.sha256(f"{mailbox}\0{folder}".encode()).hexdigest()[:40]


@dataclass(frozen=True)
class StartPoint:
    """Reads and records each folder's start; built by the composition root."""

    factory: sessionmaker[Session]
    clock: Clock
    mode: Mode

    def load(self, mailbox: str, folder: str) -> Start | None:
        """The recorded start of a folder, or None before the first connection to it."""
        with session_scope(self.factory) as session:
            value = get_state(session, state_key(mailbox, folder))
        return Start.from_json(value["start"]) if value else None

    def save(self, mailbox: str, folder: str, start: Start) -> None:
        """Record a folder's start (once: a second call keeps the first)."""
        with session_scope(self.factory) as session:
            key = state_key(mailbox, folder)
            if get_state(session, key) is None:
                put_state(session, key, {"mailbox": mailbox, "folder": folder,
                                         "at": self.clock.now().isoformat(),
                                         "start": start.as_json()}, self.clock.now())

    def first(self, heads: Iterable[tuple[str | None, bytes]], **where: Any) -> Start:
        """The start of a folder met for the first time, from its messages' headers."""
        ids: set[str] = set()
        hashes: set[str] = set()
        for message_id, header in heads:
            if not header:
                continue  # expunged meanwhile
            hashes.add(header_hash(header))
            if message_id:
                ids.add(message_id)
        return Start(self.mode, message_ids=frozenset(ids), header_hashes=frozenset(hashes),
                     **where)


HEADS_AT_ONCE = 500


def fetch_heads(client: Any, uids: list[int]) -> Iterator[tuple[str | None, bytes]]:
    """(Message-ID, header block) of each UID in order, read with BODY.PEEK[HEADER] (no body,
    no \\Seen flag); an expunged message gives an empty header."""
    for at in range(0, len(uids), HEADS_AT_ONCE):
        part = uids[at : at + HEADS_AT_ONCE]
        fetched = client.fetch(part, ["BODY.PEEK[HEADER]"])
        for uid in part:
            header = bytes(fetched.get(uid, {}).get(b"BODY[HEADER]", b""))
            yield header_message_id(header), header
