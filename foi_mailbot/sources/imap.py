"""IMAP source: the daemon's view of a real mailbox, first stage of the pipeline.

`fetch_new` hands over messages not yet stored, tracked per folder by (UIDVALIDITY, UID) in the
`CheckpointStore`; `mark_done` moves or flags a message only after its raw bytes are committed,
and only then advances the checkpoint (see `imap_progress`). `wait` sleeps in IDLE on the inbox
(see `imap_idle`) or polls when IDLE is missing or keeps failing. The Sent folder, adopted by
its flag when the configured name is missing, is `sent` (see `imap_sent`), which the outbox
files its copies in too. Any dropped connection is logged once per outage and re-opened with
exponential backoff (see `imap_session`, which owns the connection); library errors leave this
module as `TransientError`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Final

import structlog
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from foi_mailbot.clock import Clock, SystemClock, as_utc
from foi_mailbot.errors import ConfigError, TransientError
from foi_mailbot.parsing.headers import header_message_id
from foi_mailbot.settings import MailboxSettings
from foi_mailbot.sources import CheckpointStore, Direction, RawMail
from foi_mailbot.sources.imap_idle import IdleWatch
from foi_mailbot.sources.imap_progress import STORED_KEYWORD, Cursor, FolderProgress
from foi_mailbot.sources.imap_sent import SentFolders
from foi_mailbot.sources.imap_session import DROPS, ImapSession, describe
from foi_mailbot.sources.special_use import FolderReport
from foi_mailbot.sources.start import Start, StartPoint, fetch_heads, header_hash
from foi_mailbot.sources.tokens import TokenProvider

log = structlog.get_logger(__name__)

FETCH_ITEMS: Final = ("BODY.PEEK[]", "INTERNALDATE", "FLAGS")
OWN_ID_HEADER: Final = "HEADER.FIELDS (MESSAGE-ID)"
FETCH_BYTES: Final = 8 * 2**20
"""Bytes of messages fetched in one command at most (sizes are asked first)."""


class ImapSource:
    """See `MailSource`: one IMAP account, its inbox and optionally its Sent folder."""

    def __init__(
        self,
        settings: MailboxSettings,
        checkpoints: CheckpointStore,
        *,
        token_provider: TokenProvider | None = None,
        folders: Sequence[tuple[str, Direction]] | None = None,
        clock: Clock | None = None,
        ours: Callable[[Collection[str]], set[str]] | None = None,
        start: StartPoint | None = None,
        on_folders: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        if not settings.host or not settings.username:
            msg = "mailbox.host and mailbox.username are needed to read mail over IMAP"
            raise ConfigError(msg)
        if settings.auth == "password" and settings.password is None:
            msg = "mailbox.password is needed for password login"
            raise ConfigError(msg)
        self._settings = settings
        self._clock: Clock = clock or SystemClock()
        self.name = f"{settings.username}@{settings.host}"
        if folders is None:
            folders = [(settings.inbox_folder, "inbound")]
            if settings.sent_folder:
                folders.append((settings.sent_folder, "sent"))
        self._folders: tuple[tuple[str, Direction], ...] = tuple(folders)
        self._directions = dict(self._folders)
        inbound = [name for name, direction in self._folders if direction == "inbound"]
        self._watched = inbound[0] if inbound else None
        self._missing: set[str] = set()  # folders already reported missing
        # Sent found by its flag; folders that disappeared: told to `on_folders`, starting
        # afresh with each run.
        self.folders = FolderReport(on_change=on_folders)
        if on_folders is not None:
            on_folders(self.folders.as_state())
        self._uidnext_seen: int | None = None  # the watched folder's, at the last fetch
        self.last_sync: datetime | None = None
        self._session = ImapSession(settings, self.name, self._clock, token_provider)
        self._progress = FolderProgress(settings, self._session, checkpoints)
        self._idle = IdleWatch(settings, self._session, self._clock, self._watched)
        # Also the outbox's: it files copies of what it sent there (see `bootstrap`).
        self.sent = SentFolders(
            self._session,
            [name for name, direction in self._folders if direction == "sent"],
            self.folders,
        )
        # Given Message-IDs seen in a Sent folder, which are our own outgoing mail: those are
        # passed over without fetching (see `_without_own_copies`).
        self.ours = ours
        # What each folder held at the first connection (see `sources.start`); None: all new.
        self.start = start

    # -- MailSource ------------------------------------------------------------------------

    def fetch_new(self) -> Iterator[RawMail]:
        """See `MailSource.fetch_new`: every watched folder in order, oldest UID first."""
        self._progress.flush()
        client = self._session.ensure_connected()
        try:
            for configured, direction in self._folders:
                folder = self.sent.resolve(client, configured)
                yield from self._fetch_folder(client, folder, direction)
                self._progress.flush()  # while this folder is still selected
        except (*DROPS, IMAPClientError) as exc:
            self._session.lost(exc, client)
            msg = f"reading {self.name} failed: {describe(exc)}"
            raise TransientError(msg) from exc
        self.last_sync = self._clock.now()

    def mark_done(self, mail: RawMail) -> None:
        """See `MailSource.mark_done`: move or flag an inbox message, then checkpoint it.

        Inbox messages are queued and moved or flagged one command per batch (one UID MOVE per
        message caps a backlog at about 100 msg/s): when `batch_size` are queued, when the
        folder's fetch ends, before waiting, and on close. Sent mail is only checkpointed.
        """
        cursor = self._progress.cursor(mail.folder)
        if cursor is None or mail.uid is None or cursor.uidvalidity != mail.uidvalidity:
            log.warning("imap.mark_done_stale", folder=mail.folder, uid=mail.uid)
            return
        if self._directions.get(mail.folder) != "inbound":
            self._progress.advance(mail.folder, cursor, [mail.uid])
            return
        self._progress.queue(mail.folder, cursor, mail.uid)

    def wait(self, timeout: float, stop: threading.Event) -> None:
        """See `MailSource.wait`: IDLE on the inbox, or poll; reconnect with backoff if down."""
        deadline = time.monotonic() + max(0.0, timeout)
        with contextlib.suppress(TransientError):  # left queued; the next fetch retries
            self._progress.flush()
        client = self._session.client
        if client is None:
            self._session.reconnect_within(deadline, stop)
        elif not self._idle.usable(client):
            stop.wait(min(self._settings.poll_interval_seconds, max(0.0, timeout)))
        else:
            self._idle.within(client, deadline, stop, self._uidnext_seen)

    def close(self) -> None:
        """See `MailSource.close`: apply queued work, then log out."""
        with contextlib.suppress(TransientError):
            self._progress.flush()
        self._session.close()

    # -- state for health and tests --------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while the watching connection is open."""
        return self._session.client is not None

    @property
    def connected_at(self) -> datetime | None:
        """When the watching connection was last opened."""
        return self._session.connected_at

    @property
    def idling_since(self) -> datetime | None:
        """When the current IDLE on the inbox began; None outside IDLE."""
        return self._idle.since

    @property
    def _client(self) -> IMAPClient | None:
        """The watching connection, if open."""
        return self._session.client

    # -- fetching --------------------------------------------------------------------------

    def _folder_present(self, client: IMAPClient, folder: str) -> bool:
        if folder.upper() == "INBOX" or folder in self._session.known_folders:
            return True
        if client.folder_exists(self._session.server_name(folder)):
            self._session.known_folders.add(folder)
            self.folders.present(folder)
            return True
        if self._progress.checkpointed(folder):
            self.folders.gone(folder, self.name)  # read before: someone deleted or renamed it
        if folder not in self._missing:
            self._missing.add(folder)
            log.warning("imap.folder_missing", mailbox=self.name, folder=folder)
        return False

    def _fetch_folder(
        self, client: IMAPClient, folder: str, direction: Direction
    ) -> Iterator[RawMail]:
        if not self._folder_present(client, folder):
            return
        readonly = direction == "sent"
        info = self._session.select(client, folder, readonly=readonly)
        cursor = self._progress.open(folder, int(info[b"UIDVALIDITY"]))
        begun = self._start_of(client, folder, cursor, info)
        if folder == self._watched:
            self._uidnext_seen = info.get(b"UIDNEXT")
        flagging = direction == "inbound" and self._settings.after_processing == "flag"
        criteria: list[str] = ["UID", f"{cursor.last + 1}:*"]
        if flagging:
            criteria += ["NOT", "KEYWORD", STORED_KEYWORD]
        # "n:*" always matches the highest UID, even below n: filter.
        uids = sorted(uid for uid in client.search(criteria) if uid > cursor.last)
        size = self._settings.batch_size
        for start in range(0, len(uids), size):
            if not self._still_selected(client, folder, readonly, cursor):
                return
            batch = uids[start : start + size]
            if direction == "sent" and self.ours is not None:
                batch = self._without_own_copies(client, folder, cursor, batch, self.ours)
            batch = self._without_history(client, folder, cursor, batch, begun)
            if not batch:
                continue
            for part in _by_size(batch, client.fetch(batch, ["RFC822.SIZE"])):
                if not self._still_selected(client, folder, readonly, cursor):
                    return
                fetched = client.fetch(part, list(FETCH_ITEMS))
                for uid in part:
                    data = fetched.pop(uid, None)
                    if data is None or b"BODY[]" not in data:
                        continue  # expunged by someone else since the search
                    if flagging and _is_stored(data.get(b"FLAGS", ())):
                        continue
                    cursor.outstanding.add(uid)
                    mail = self._raw_mail(folder, direction, cursor.uidvalidity, uid, data)
                    held = begun is not None and begun.holds(mail.uidvalidity, mail.uid)
                    yield replace(mail, history=True) if held else mail

    def _still_selected(
        self, client: IMAPClient, folder: str, readonly: bool, cursor: Cursor
    ) -> bool:
        """Select the folder again if a caller marking mail done late selected another; False
        if it is no longer the folder the cursor belongs to (a new UIDVALIDITY)."""
        if self._session.selected == (folder, readonly):
            return True
        again = self._session.select(client, folder, readonly=readonly)
        return int(again[b"UIDVALIDITY"]) == cursor.uidvalidity

    def _without_own_copies(
        self,
        client: IMAPClient,
        folder: str,
        cursor: Cursor,
        batch: list[int],
        ours: Callable[[Collection[str]], set[str]],
    ) -> list[int]:
        """The batch less copies of mail we sent ourselves, which are passed over unfetched.

        Our acknowledgements and reminders are filed in Sent as they go; fetching, storing and
        processing each again would double the work of a backlog for nothing. Only their
        Message-ID header is read, and the outbox says which are ours.
        """
        heads = client.fetch(batch, [f"BODY.PEEK[{OWN_ID_HEADER}]"])
        ids = {
            uid: header_message_id(bytes(data.get(f"BODY[{OWN_ID_HEADER}]".encode(), b"")))
            for uid, data in heads.items()
        }
        own = ours({i for i in ids.values() if i})
        skipped = {uid for uid in batch if ids.get(uid) in own}
        if skipped:
            self._progress.advance(folder, cursor, sorted(skipped))
        return [uid for uid in batch if uid not in skipped]

    def _raw_mail(
        self, folder: str, direction: Direction, uidvalidity: int, uid: int, data: dict[bytes, Any]
    ) -> RawMail:
        internal = data.get(b"INTERNALDATE")
        arrived = as_utc(internal) if isinstance(internal, datetime) else self._clock.now()
        return RawMail(
            source_key=f"imap:{self.name}/{folder}/{uidvalidity}/{uid}",
            mailbox=self.name,
            folder=folder,
            uidvalidity=uidvalidity,
            uid=uid,
            arrived_at=arrived,
            raw=bytes(data[b"BODY[]"]),
            direction=direction,
        )

    # -- the start point (see `sources.start`) ---------------------------------------------

    def _start_of(
        self, client: IMAPClient, folder: str, cursor: Cursor, info: dict[bytes, Any]
    ) -> Start | None:
        """The folder's start, recorded at the first connection; under `new` the cursor is
        moved past the history, so it is never fetched, moved or flagged."""
        if self.start is None or self.start.mode == "all":
            return None
        begun = self.start.load(self.name, folder)
        if begun is None:
            uidnext = int(info.get(b"UIDNEXT") or 0)
            if cursor.last > 0:  # mail was taken from this folder before: none is history
                begun = Start(self.start.mode, cursor.uidvalidity, cursor.last + 1)
            else:
                uids = [uid for uid in client.search("ALL") if not uidnext or uid < uidnext]
                uidnext = uidnext or max(uids, default=0) + 1
                begun = self.start.first(fetch_heads(client, uids),
                                         uidvalidity=cursor.uidvalidity, uidnext=uidnext)
            self.start.save(self.name, folder, begun)
            log.info("imap.start_recorded", folder=folder, mode=begun.mode,
                     history=len(begun.header_hashes), uidnext=begun.uidnext)
        last = (begun.uidnext or 1) - 1
        if begun.mode == "new" and not begun.renumbered(cursor.uidvalidity) and cursor.last < last:
            self._progress.skip_to(folder, cursor, last)
        return begun

    def _without_history(
        self, client: IMAPClient, folder: str, cursor: Cursor, batch: list[int],
        begun: Start | None,
    ) -> list[int]:
        """The batch less the history, after a renumbering: passed over unfetched, unmoved."""
        if begun is None or not batch or not begun.renumbered(cursor.uidvalidity):
            return batch
        history = {uid for uid, (message_id, header) in zip(
            batch, fetch_heads(client, batch), strict=True)
            if begun.is_history(message_id, header_hash(header))}
        if history:
            log.info("imap.history_passed_over", folder=folder, messages=len(history))
            self._progress.advance(folder, cursor, sorted(history))
        return [uid for uid in batch if uid not in history]


def _by_size(batch: list[int], sizes: dict[int, dict[bytes, Any]]) -> Iterator[list[int]]:
    """The batch cut into fetches of at most `FETCH_BYTES` (but one message at least), so a run
    of large attachments is never held in memory all at once."""
    part: list[int] = []
    total = 0
    for uid in batch:
        size = int(sizes.get(uid, {}).get(b"RFC822.SIZE", 0))
        if part and total + size > FETCH_BYTES:
            yield part
            part, total = [], 0
        part.append(uid)
        total += size
    if part:
        yield part


def _is_stored(flags: Sequence[bytes | str]) -> bool:
    names = (f.decode("ascii", "replace") if isinstance(f, bytes) else f for f in flags)
    return STORED_KEYWORD.lower() in (name.lower() for name in names)
