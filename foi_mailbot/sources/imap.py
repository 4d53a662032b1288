"""IMAP source: the daemon's view of a real mailbox, first stage of the pipeline.

`fetch_new` hands over messages not yet stored, tracked per folder by (UIDVALIDITY, UID) in the
`CheckpointStore`; `mark_done` moves or flags a message only after its raw bytes are committed,
and only then advances the checkpoint. `wait` sleeps in IDLE on the inbox (renewed at most every
`idle_renew_seconds`) or polls when IDLE is missing or keeps failing. Any dropped connection is
logged once per outage and re-opened with exponential backoff (see `imap_session`, which owns the
connection); library errors leave this module as `TransientError`.
"""

from __future__ import annotations

import contextlib
import imaplib
import select
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field, replace
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
from foi_mailbot.sources.imap_session import (
    BACKOFF_CAP_SECONDS,
    BACKOFF_FIRST_SECONDS,
    DROPS,
    ImapSession,
    describe,
    open_client,
)
from foi_mailbot.sources.special_use import FolderReport, find_sent_folder
from foi_mailbot.sources.start import Start, StartPoint, fetch_heads, header_hash
from foi_mailbot.sources.tokens import TokenProvider

# `open_client` and the backoff limits live in `imap_session` and are re-exported from here.
__all__ = [
    "BACKOFF_CAP_SECONDS", "BACKOFF_FIRST_SECONDS", "FETCH_ITEMS", "MAX_IDLE_FAILURES",
    "STORED_KEYWORD", "ImapSource", "open_client",
]

log = structlog.get_logger(__name__)

STORED_KEYWORD: Final = "$FoiMailbotStored"
MAX_IDLE_FAILURES: Final = 3
FETCH_ITEMS: Final = ("BODY.PEEK[]", "INTERNALDATE", "FLAGS")
OWN_ID_HEADER: Final = "HEADER.FIELDS (MESSAGE-ID)"
FETCH_BYTES: Final = 8 * 2**20
"""Bytes of messages fetched in one command at most (sizes are asked first)."""



@dataclass
class _Cursor:
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


def _has_news(responses: Sequence[tuple[Any, ...]]) -> bool:
    """True when IDLE reported a new message (EXISTS, or a non-zero RECENT)."""
    return any(
        len(r) >= 2 and (r[1] == b"EXISTS" or (r[1] == b"RECENT" and r[0])) for r in responses
    )


def _readable(client: IMAPClient) -> bool:
    poller = select.poll()
    poller.register(client.socket(), select.POLLIN)
    return bool(poller.poll(0))


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
        self._checkpoints = checkpoints
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
        self._sent_checked: set[str] = set()  # Sent folders looked up by name this run
        # Sent found by its flag; folders that disappeared: told to `on_folders`, starting
        # afresh with each run.
        self.folders = FolderReport(on_change=on_folders)
        if on_folders is not None:
            on_folders(self.folders.as_state())
        self._cursors: dict[str, _Cursor] = {}
        self._queued: dict[str, tuple[_Cursor, list[int]]] = {}  # committed, not yet moved
        self._uidnext_seen: int | None = None
        self._idle_failures = 0
        self.last_sync: datetime | None = None
        self.idling_since: datetime | None = None
        self._session = ImapSession(settings, self.name, self._clock, token_provider)
        # Given Message-IDs seen in a Sent folder, which are our own outgoing mail: those are
        # passed over without fetching (see `_without_own_copies`).
        self.ours = ours
        # What each folder held at the first connection (see `sources.start`); None: all new.
        self.start = start

    # -- MailSource ------------------------------------------------------------------------

    def fetch_new(self) -> Iterator[RawMail]:
        """See `MailSource.fetch_new`: every watched folder in order, oldest UID first."""
        self._flush()
        client = self._session.ensure_connected()
        try:
            for configured, direction in self._folders:
                folder = self._sent_by_flag(client, configured)
                yield from self._fetch_folder(client, folder, direction)
                self._flush()  # while this folder is still selected
        except (*DROPS, IMAPClientError) as exc:
            self._lost(exc, client)
            msg = f"reading {self.name} failed: {describe(exc)}"
            raise TransientError(msg) from exc
        self.last_sync = self._clock.now()

    def mark_done(self, mail: RawMail) -> None:
        """See `MailSource.mark_done`: move or flag an inbox message, then checkpoint it.

        Inbox messages are queued and moved or flagged one command per batch (one UID MOVE per
        message caps a backlog at about 100 msg/s): when `batch_size` are queued, when the
        folder's fetch ends, before waiting, and on close. Sent mail is only checkpointed.
        """
        cursor = self._cursors.get(mail.folder)
        if cursor is None or mail.uid is None or cursor.uidvalidity != mail.uidvalidity:
            log.warning("imap.mark_done_stale", folder=mail.folder, uid=mail.uid)
            return
        if self._directions.get(mail.folder) != "inbound":
            self._advance(mail.folder, cursor, [mail.uid])
            return
        queued = self._queued.setdefault(mail.folder, (cursor, []))
        if queued[0] is not cursor:
            self._flush()
            queued = self._queued.setdefault(mail.folder, (cursor, []))
        queued[1].append(mail.uid)
        if len(queued[1]) >= self._settings.batch_size:
            self._flush()

    def wait(self, timeout: float, stop: threading.Event) -> None:
        """See `MailSource.wait`: IDLE on the inbox, or poll; reconnect with backoff if down."""
        deadline = time.monotonic() + max(0.0, timeout)
        with contextlib.suppress(TransientError):  # left queued; the next fetch retries
            self._flush()
        if self._session.client is None:
            self._session.reconnect_within(deadline, stop)
        elif not self._idle_usable(self._session.client):
            stop.wait(min(self._settings.poll_interval_seconds, max(0.0, timeout)))
        else:
            self._idle_within(self._session.client, deadline, stop)

    def close(self) -> None:
        """See `MailSource.close`: apply queued work, then log out."""
        with contextlib.suppress(TransientError):
            self._flush()
        self._session.close()

    # -- extra operations for other stages -------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while the watching connection is open."""
        return self._session.client is not None

    @property
    def connected_at(self) -> datetime | None:
        """When the watching connection was last opened."""
        return self._session.connected_at

    @property
    def _client(self) -> IMAPClient | None:
        """The watching connection, if open."""
        return self._session.client

    def append(self, folder: str, raw: bytes, flags: Sequence[str] = (r"\Seen",)) -> None:
        """Store a copy of a message we sent (e.g. an acknowledgement) in a folder."""
        self.append_many(folder, [raw], flags)

    def append_many(
        self, folder: str, raws: Sequence[bytes], flags: Sequence[str] = (r"\Seen",)
    ) -> None:
        """Store copies of messages we sent in a folder: one MULTIAPPEND where the server has it
        (RFC 3502: all or none), else one APPEND each."""
        if not raws:
            return
        with self._session.side_connection("append") as client:
            name = self._session.server_name(self._sent_by_flag(client, folder))
            if name not in self._session.side_folders:
                if not client.folder_exists(name):
                    client.create_folder(name)
                self._session.side_folders.add(name)
            if len(raws) > 1 and client.has_capability("MULTIAPPEND"):
                client.multiappend(name, [{"msg": raw, "flags": tuple(flags)} for raw in raws])
                return
            for raw in raws:
                client.append(name, raw, flags=tuple(flags))

    def has_message_id(self, folder: str, message_id: str) -> bool:
        """True if a message with this Message-ID header is in the folder."""
        wanted = message_id.replace("\r", "").replace("\n", "").strip()
        with self._session.side_connection("search") as client:
            name = self._session.server_name(self._sent_by_flag(client, folder))
            if not client.folder_exists(name):
                return False
            client.select_folder(name, readonly=True)
            return bool(client.search(["HEADER", "Message-ID", wanted]))

    def _sent_by_flag(self, client: IMAPClient, folder: str) -> str:
        """The configured Sent folder, or the one flagged `\\Sent` when it does not exist."""
        if folder in self.folders.adopted:
            return self.folders.adopted[folder]
        if folder not in self._sent_checked and self._directions.get(folder) == "sent":
            self._sent_checked.add(folder)
            if not client.folder_exists(self._session.server_name(folder)):
                found = find_sent_folder(client)
                if found is not None and found != folder:
                    self._directions[found] = "sent"
                    self.folders.adopt(folder, found, self.name)
                    return found
        return folder

    # -- connection (see `imap_session`) ---------------------------------------------------

    def _lost(self, exc: BaseException, client: IMAPClient | None = None) -> None:
        """Drop the connection after an error on it; the next call reconnects."""
        if self._session.lost(exc, client):
            self.idling_since = None

    # -- fetching --------------------------------------------------------------------------

    def _select(self, client: IMAPClient, folder: str, *, readonly: bool) -> dict[bytes, Any]:
        name = self._session.server_name(folder)
        info: dict[bytes, Any] = client.select_folder(name, readonly=readonly)
        self._session.selected = (folder, readonly)
        return info

    def _folder_present(self, client: IMAPClient, folder: str) -> bool:
        if folder.upper() == "INBOX" or folder in self._session.known_folders:
            return True
        if client.folder_exists(self._session.server_name(folder)):
            self._session.known_folders.add(folder)
            self.folders.present(folder)
            return True
        if self._checkpoints.get(self.name, folder) is not None:
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
        info = self._select(client, folder, readonly=readonly)
        cursor = self._open_cursor(folder, int(info[b"UIDVALIDITY"]))
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
        self, client: IMAPClient, folder: str, readonly: bool, cursor: _Cursor
    ) -> bool:
        """Select the folder again if a caller marking mail done late selected another; False
        if it is no longer the folder the cursor belongs to (a new UIDVALIDITY)."""
        if self._session.selected == (folder, readonly):
            return True
        again = self._select(client, folder, readonly=readonly)
        return int(again[b"UIDVALIDITY"]) == cursor.uidvalidity

    def _without_own_copies(
        self,
        client: IMAPClient,
        folder: str,
        cursor: _Cursor,
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
            self._advance(folder, cursor, sorted(skipped))
        return [uid for uid in batch if uid not in skipped]

    # -- the start point (see `sources.start`) ---------------------------------------------

    def _start_of(
        self, client: IMAPClient, folder: str, cursor: _Cursor, info: dict[bytes, Any]
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
            cursor.last = cursor.done_max = last
            self._checkpoints.set(self.name, folder, cursor.uidvalidity, last)
        return begun

    def _without_history(
        self, client: IMAPClient, folder: str, cursor: _Cursor, batch: list[int],
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
            self._advance(folder, cursor, sorted(history))
        return [uid for uid in batch if uid not in history]

    def _open_cursor(self, folder: str, uidvalidity: int) -> _Cursor:
        stored = self._checkpoints.get(self.name, folder)
        last = 0
        if stored is not None and stored[0] == uidvalidity:
            last = stored[1]
        elif stored is not None:
            # The server renumbered the folder: start over; the ingest stage dedupes by content.
            log.warning("imap.uidvalidity_changed", folder=folder, old=stored[0], new=uidvalidity)
            self._checkpoints.set(self.name, folder, uidvalidity, 0)
        cursor = _Cursor(uidvalidity=uidvalidity, last=last, done_max=last)
        self._cursors[folder] = cursor
        return cursor

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

    # -- after commit ----------------------------------------------------------------------

    def _flush(self) -> None:
        """Move or flag every queued message, one command per folder, then checkpoint them."""
        while self._queued:
            folder, (cursor, uids) = self._queued.popitem()
            client = self._session.ensure_connected()
            try:
                if self._dispose(client, folder, cursor.uidvalidity, uids):
                    self._advance(folder, cursor, uids)
            except (*DROPS, IMAPClientError) as exc:
                self._lost(exc, client)
                msg = f"marking messages done on {self.name} failed: {describe(exc)}"
                raise TransientError(msg) from exc

    def _dispose(self, client: IMAPClient, folder: str, uidvalidity: int, uids: list[int]) -> bool:
        """Move the messages to the processed folder, or flag them; False if renumbered."""
        if self._session.selected != (folder, False):
            info = self._select(client, folder, readonly=False)
            if int(info[b"UIDVALIDITY"]) != uidvalidity:
                log.warning("imap.mark_done_stale", folder=folder, uids=len(uids))
                return False
        if self._settings.after_processing == "flag":
            client.add_flags(uids, [r"\Seen", STORED_KEYWORD])
        else:
            self._move(client, uids)
        return True

    def _advance(self, folder: str, cursor: _Cursor, uids: list[int]) -> None:
        reached = [r for r in (cursor.finish(uid) for uid in uids) if r is not None]
        if reached:
            self._checkpoints.set(self.name, folder, cursor.uidvalidity, max(reached))

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

    # -- waiting ---------------------------------------------------------------------------

    def _idle_usable(self, client: IMAPClient) -> bool:
        return (
            self._settings.use_idle
            and self._watched is not None
            and self._idle_failures < MAX_IDLE_FAILURES
            and bool(client.has_capability("IDLE"))
        )

    def _idle_within(self, client: IMAPClient, deadline: float, stop: threading.Event) -> None:
        """IDLE until news, the deadline, or stop; count refusals, reconnect after drops."""
        watched = self._watched or self._settings.inbox_folder
        try:
            info = self._select(client, watched, readonly=False)
            uidnext, seen = info.get(b"UIDNEXT"), self._uidnext_seen
            if uidnext is not None and seen is not None and uidnext > seen:
                return  # mail came in after the last fetch's SELECT: no need to wait for it
            self._idle_until(client, deadline, stop)
            self._idle_failures = 0
        except DROPS as exc:
            self._lost(exc, client)
        except IMAPClientError as exc:
            self._idle_failures += 1
            log.warning("imap.idle_failed", failures=self._idle_failures, reason=describe(exc))
            if self._idle_failures == MAX_IDLE_FAILURES:
                log.warning("imap.idle_abandoned", mailbox=self.name)
            self._lost(exc, client)
        finally:
            self.idling_since = None

    def _idle_until(self, client: IMAPClient, deadline: float, stop: threading.Event) -> None:
        client.idle()
        self.idling_since = self._clock.now()
        started = time.monotonic()
        renew = self._settings.idle_renew_seconds
        while not stop.is_set():
            now = time.monotonic()
            if now >= deadline:
                break
            if now - started >= renew:
                client.idle_done()
                client.idle()
                started = now
                log.debug("imap.idle_renewed", mailbox=self.name)
            # Short checks so that `stop` is honoured within about a second.
            responses = client.idle_check(timeout=min(1.0, deadline - now))
            if not responses and _readable(client):
                # idle_check swallows EOF; a readable socket that yields nothing is closed.
                responses = client.idle_check(timeout=0)
                if not responses:
                    raise imaplib.IMAP4.abort("connection closed during IDLE")
            if any(r and r[0] == b"BYE" for r in responses):
                raise imaplib.IMAP4.abort("server ended the session")
            if _has_news(responses):
                break
        client.idle_done()


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
