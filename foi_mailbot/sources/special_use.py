"""Folders by role rather than name: the Sent folder as the server flags it (RFC 6154).

Exchange names it "Sent Items", Gmail "[Gmail]/Sent Mail", Dovecot often "Sent". When the
configured name does not exist, the folder flagged `\\Sent` is adopted, and said so: staff
replies are read from there, and our own copies are filed there. `FolderReport` keeps what the
daemon has noticed about its folders (adopted names; folders that disappeared) for `status`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from imapclient import IMAPClient

log = structlog.get_logger("foi_mailbot.sources.imap")

SENT_FLAG = b"\\Sent"


def find_sent_folder(client: IMAPClient) -> str | None:
    """The folder the server flags `\\Sent` (SPECIAL-USE), or None."""
    for flags, _delimiter, name in client.list_folders():
        if any(bytes(flag).lower() == SENT_FLAG.lower() for flag in flags):
            return str(name)
    return None


@dataclass
class FolderReport:
    """Adopted folder names and folders gone missing, told to `on_change` when they change."""

    adopted: dict[str, str] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)
    on_change: Callable[[dict[str, Any]], None] | None = None
    _told: dict[str, Any] | None = None

    def adopt(self, configured: str, found: str, mailbox: str) -> None:
        """Use `found` where the settings say `configured` (which does not exist)."""
        if self.adopted.get(configured) != found:
            self.adopted[configured] = found
            log.warning("imap.sent_folder_adopted", mailbox=mailbox, configured=configured,
                        found=found, hint=f'set mailbox.sent_folder = "{found}"')
        self._tell()

    def gone(self, folder: str, mailbox: str) -> None:
        """A folder read before no longer exists."""
        if folder not in self.missing:
            self.missing.add(folder)
            log.error("imap.folder_disappeared", mailbox=mailbox, folder=folder)
        self._tell()

    def present(self, folder: str) -> None:
        """A folder exists (again)."""
        if folder in self.missing:
            self.missing.discard(folder)
            self._tell()

    def as_state(self) -> dict[str, Any]:
        """What `status` reads: {"adopted": {configured: found}, "missing": [...]}."""
        return {"adopted": dict(self.adopted), "missing": sorted(self.missing)}

    def _tell(self) -> None:
        state = self.as_state()
        if state != self._told and self.on_change is not None:
            self.on_change(state)
        self._told = state
