"""How far `ImapSource` has got in each folder, and marking mail done there.

Each selected folder has a `Cursor`: this session's progress through it, whose `last` mirrors
the folder's checkpoint in the `CheckpointStore` and never passes a message handed over but not
yet committed. Inbox messages whose bytes are committed are queued and moved to the processed
folder or flagged one command per batch (one UID MOVE per message caps a backlog at about
100 msg/s); only then does the checkpoint advance. Library errors leave as `TransientError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import structlog
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from foi_mailbot.errors import TransientError
from foi_mailbot.settings import MailboxSettings
from foi_mailbot.sources import CheckpointStore
from foi_mailbot.sources.imap_session import DROPS, ImapSession, describe

# Named for the source it serves, so its lines carry the same logger name as the rest.
log = structlog.get_logger("foi_mailbot.sources.imap")

STORED_KEYWORD: Final = "$FoiMailbotStored"


@dataclass
class Cursor:
    """This session's progress through one folder; `last` mirrors the stored checkpoint."""

    uidvalidity: int
    last: int
    outstanding: set[int] = field(default_factory=set)
    done_max: int = 0

    def finish(self, uid: int) -> int | None:
        """Record `uid` as committed; return the new checkpoint if it moved forward."""
        self.outstanding.discard(uid)
        self.done_max = max(self.done_max, uid)
        # Never pass a message handed over but not yet committed: it must be fetched again.
        reach = min(self.outstanding) - 1 if self.outstanding else self.done_max
        if reach > self.last:
            self.last = reach
            return reach
        return None


class FolderProgress:
    """Each folder's cursor and checkpoint, and inbox mail committed but not yet moved."""

    def __init__(
        self, settings: MailboxSettings, session: ImapSession, checkpoints: CheckpointStore
    ) -> None:
        self._settings = settings
        self._session = session
        self._checkpoints = checkpoints
        self._mailbox = session.name
        self._cursors: dict[str, Cursor] = {}
        self._queued: dict[str, tuple[Cursor, list[int]]] = {}  # committed, not yet moved

    def open(self, folder: str, uidvalidity: int) -> Cursor:
        """A fresh cursor for a folder just selected, from its checkpoint."""
        stored = self._checkpoints.get(self._mailbox, folder)
        last = 0
        if stored is not None and stored[0] == uidvalidity:
            last = stored[1]
        elif stored is not None:
            # The server renumbered the folder: start over; the ingest stage dedupes by content.
            log.warning("imap.uidvalidity_changed", folder=folder, old=stored[0], new=uidvalidity)
            self._checkpoints.set(self._mailbox, folder, uidvalidity, 0)
        cursor = Cursor(uidvalidity=uidvalidity, last=last, done_max=last)
        self._cursors[folder] = cursor
        return cursor

    def cursor(self, folder: str) -> Cursor | None:
        """The folder's cursor this session, if it was fetched from."""
        return self._cursors.get(folder)

    def checkpointed(self, folder: str) -> bool:
        """True if mail was ever taken from the folder (it has a checkpoint)."""
        return self._checkpoints.get(self._mailbox, folder) is not None

    def skip_to(self, folder: str, cursor: Cursor, last: int) -> None:
        """Move the cursor and the checkpoint on to `last`, passing over what lies before."""
        cursor.last = cursor.done_max = last
        self._checkpoints.set(self._mailbox, folder, cursor.uidvalidity, last)

    def advance(self, folder: str, cursor: Cursor, uids: list[int]) -> None:
        """Record messages as done; checkpoint the folder if its cursor moved forward."""
        reached = [r for r in (cursor.finish(uid) for uid in uids) if r is not None]
        if reached:
            self._checkpoints.set(self._mailbox, folder, cursor.uidvalidity, max(reached))

    def queue(self, folder: str, cursor: Cursor, uid: int) -> None:
        """Queue a committed inbox message to be moved or flagged; flush at `batch_size`."""
        queued = self._queued.setdefault(folder, (cursor, []))
        if queued[0] is not cursor:
            self.flush()
            queued = self._queued.setdefault(folder, (cursor, []))
        queued[1].append(uid)
        if len(queued[1]) >= self._settings.batch_size:
            self.flush()

    def flush(self) -> None:
        """Move or flag every queued message, one command per folder, then checkpoint them."""
        while self._queued:
            folder, (cursor, uids) = self._queued.popitem()
            client = self._session.ensure_connected()
            try:
                if self._dispose(client, folder, cursor.uidvalidity, uids):
                    self.advance(folder, cursor, uids)
            except (*DROPS, IMAPClientError) as exc:
                self._session.lost(exc, client)
                msg = f"marking messages done on {self._mailbox} failed: {describe(exc)}"
                raise TransientError(msg) from exc

    def _dispose(self, client: IMAPClient, folder: str, uidvalidity: int, uids: list[int]) -> bool:
        """Move the messages to the processed folder, or flag them; False if renumbered."""
        if self._session.selected != (folder, False):
            info = self._session.select(client, folder, readonly=False)
            if int(info[b"UIDVALIDITY"]) != uidvalidity:
                log.warning("imap.mark_done_stale", folder=folder, uids=len(uids))
                return False
        if self._settings.after_processing == "flag":
            client.add_flags(uids, [r"\Seen", STORED_KEYWORD])
        else:
            self._move(client, uids)
        return True

    def _move(self, client: IMAPClient, uids: list[int]) -> None:
        target = self._settings.processed_folder
        if target not in self._session.known_folders:
            if not client.folder_exists(self._session.server_name(target)):
                client.create_folder(self._session.server_name(target))
            self._session.known_folders.add(target)
        if client.has_capability("MOVE"):
            client.move(uids, self._session.server_name(target))
            return
        client.copy(uids, self._session.server_name(target))
        client.add_flags(uids, [r"\Deleted"])
        if client.has_capability("UIDPLUS"):
            client.uid_expunge(uids)
        else:
            client.expunge()  # without UIDPLUS this also removes others' \Deleted mail
