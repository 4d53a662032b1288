"""Waiting for news on the watched folder with IMAP IDLE, for `ImapSource.wait`.

`IdleWatch.within` selects the watched folder and sits in IDLE until the server reports a new
message, the deadline passes, or stop is set, renewing IDLE at most every `idle_renew_seconds`.
A dropped connection is handed back to the session, which reconnects; a command the server
refuses counts against IDLE, and after `MAX_IDLE_FAILURES` in a row `usable` says no, so the
source polls instead.
"""

from __future__ import annotations

import imaplib
import select
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

import structlog
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from foi_mailbot.clock import Clock
from foi_mailbot.settings import MailboxSettings
from foi_mailbot.sources.imap_session import DROPS, ImapSession, describe

# Named for the source it serves, so its lines carry the same logger name as the rest.
log = structlog.get_logger("foi_mailbot.sources.imap")

MAX_IDLE_FAILURES: Final = 3


class IdleWatch:
    """IDLE on one folder of the session's watching connection.

    `since` is when the current IDLE began, None outside IDLE.
    """

    def __init__(
        self, settings: MailboxSettings, session: ImapSession, clock: Clock, watched: str | None
    ) -> None:
        self._settings = settings
        self._session = session
        self._clock = clock
        self._watched = watched
        self._failures = 0
        self.since: datetime | None = None

    def usable(self, client: IMAPClient) -> bool:
        """True when IDLE is wanted, offered by the server, and has not failed too often."""
        return (
            self._settings.use_idle
            and self._watched is not None
            and self._failures < MAX_IDLE_FAILURES
            and bool(client.has_capability("IDLE"))
        )

    def within(
        self, client: IMAPClient, deadline: float, stop: threading.Event, uidnext_seen: int | None
    ) -> None:
        """IDLE until news, the deadline, or stop; count refusals, reconnect after drops.

        `uidnext_seen` is the watched folder's UIDNEXT when the last fetch selected it.
        """
        watched = self._watched or self._settings.inbox_folder
        try:
            info = self._session.select(client, watched, readonly=False)
            uidnext = info.get(b"UIDNEXT")
            if uidnext is not None and uidnext_seen is not None and uidnext > uidnext_seen:
                return  # mail came in after the last fetch's SELECT: no need to wait for it
            self._until(client, deadline, stop)
            self._failures = 0
        except DROPS as exc:
            self._session.lost(exc, client)
        except IMAPClientError as exc:
            self._failures += 1
            log.warning("imap.idle_failed", failures=self._failures, reason=describe(exc))
            if self._failures == MAX_IDLE_FAILURES:
                log.warning("imap.idle_abandoned", mailbox=self._session.name)
            self._session.lost(exc, client)
        finally:
            self.since = None

    def _until(self, client: IMAPClient, deadline: float, stop: threading.Event) -> None:
        client.idle()
        self.since = self._clock.now()
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
                log.debug("imap.idle_renewed", mailbox=self._session.name)
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


def _has_news(responses: Sequence[tuple[Any, ...]]) -> bool:
    """True when IDLE reported a new message (EXISTS, or a non-zero RECENT)."""
    return any(
        len(r) >= 2 and (r[1] == b"EXISTS" or (r[1] == b"RECENT" and r[0])) for r in responses
    )


def _readable(client: IMAPClient) -> bool:
    poller = select.poll()
    poller.register(client.socket(), select.POLLIN)
    return bool(poller.poll(0))
