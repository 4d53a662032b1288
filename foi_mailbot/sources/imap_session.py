"""IMAP connection set-up for `sources.imap`: log in, back off, log outages once.

`ImapSource` reads and marks mail; the `ImapSession` it holds, and shares with the parts it is
built from (`imap_progress`, `imap_idle`, `imap_sent`), owns the watching connection: opening
it (`open_client`, password or XOAUTH2 login with a fresh token each time), learning the
server's folder separator, reconnecting with exponential backoff and jitter, logging a dropped
connection once per outage and the recovery once, and lending short-lived side connections so
that appends and searches never disturb IDLE. Library errors on connecting leave as
`TransientError`, with a cause that never repeats the server's text.
"""

from __future__ import annotations

import contextlib
import imaplib
import ipaddress
import random
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import structlog
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from foi_mailbot.clock import Clock
from foi_mailbot.errors import TransientError
from foi_mailbot.settings import MailboxSettings
from foi_mailbot.sources.tokens import TokenProvider, provider_from_settings

# Named for the source it serves, so its lines carry the same logger name as the rest.
log = structlog.get_logger("foi_mailbot.sources.imap")

BACKOFF_FIRST_SECONDS: Final = 1.0
BACKOFF_CAP_SECONDS: Final = 60.0

# A broken socket shows up as OSError (timeouts and TLS errors included) or as imaplib's abort.
DROPS: Final = (OSError, imaplib.IMAP4.abort)


def open_client(settings: MailboxSettings, tokens: TokenProvider | None = None) -> IMAPClient:
    """Connect and log in; the caller owns the returned client."""
    use_tls = settings.security != "none"
    context = ssl.create_default_context() if use_tls else None
    client = IMAPClient(
        settings.host or "",
        port=settings.resolved_port(),
        ssl=settings.security == "ssl",
        ssl_context=context,
        timeout=settings.timeout_seconds,
    )
    # At debug 5 imaplib repr()s every response, bodies included (6-7x slower).
    # A private attribute, hence the pinned imapclient version and a test.
    client._imap.debug = 0
    client.normalise_times = False  # keep INTERNALDATE's offset so it converts to UTC exactly
    try:
        if settings.security == "starttls":
            client.starttls(context)
        if settings.auth == "xoauth2":
            tokens = tokens or provider_from_settings(settings)
            _oauth2_login(client, settings.username or "", tokens)
        else:
            secret = settings.password.get_secret_value() if settings.password else ""
            client.login(settings.username, secret)
    except BaseException:
        with contextlib.suppress(Exception):
            client.shutdown()
        raise
    return client


def _oauth2_login(client: IMAPClient, user: str, tokens: TokenProvider) -> None:
    """XOAUTH2 login; a refused token is fetched again once (it may have been revoked early)."""
    try:
        client.oauth2_login(user, tokens.token())
    except LoginError:
        tokens.invalidate()
        client.oauth2_login(user, tokens.token())


@dataclass
class Backoff:
    """Exponential backoff with jitter between failed connection attempts."""

    failures: int = 0
    not_before: float = 0.0

    def failed(self) -> float:
        """Count a failed attempt; return the delay before the next one."""
        self.failures += 1
        ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** (self.failures - 1))
        delay = random.uniform(ceiling / 2, ceiling)
        self.not_before = time.monotonic() + delay
        return delay

    def reset(self) -> None:
        """Forget past failures after a successful connection."""
        self.failures = 0
        self.not_before = 0.0

    def remaining(self) -> float:
        """Seconds until the next attempt is due (0 when it may happen now)."""
        return max(0.0, self.not_before - time.monotonic())


def describe(exc: BaseException) -> str:
    """A loggable cause: never the server's text, which may echo message content."""
    if isinstance(exc, LoginError):
        return "login refused"
    if isinstance(exc, TransientError):
        return str(exc)  # our own wording, e.g. from the token provider
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"{exc.__class__.__name__} errno {exc.errno}"
    return exc.__class__.__name__


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ImapSession:
    """The watching connection to one mailbox, and what holds only while it is open.

    `selected` is the (folder, readonly) last selected on it and `known_folders` the folders
    seen to exist; both are forgotten when the connection changes.
    """

    def __init__(
        self,
        settings: MailboxSettings,
        name: str,
        clock: Clock,
        tokens: TokenProvider | None = None,
    ) -> None:
        self._settings = settings
        self.name = name
        self._clock = clock
        self._tokens = tokens
        if settings.auth == "xoauth2" and tokens is None:
            self._tokens = provider_from_settings(settings)
        self.client: IMAPClient | None = None
        self.selected: tuple[str, bool] | None = None
        self.known_folders: set[str] = set()
        self.connected_at: datetime | None = None
        self._delimiter: str | None = "/"
        self._backoff = Backoff()
        self._outage_since: float | None = None
        # One second connection, kept open for appends and searches: logging in for each
        # acknowledgement's Sent copy cost more than sending it. The lock keeps its callers
        # (the loop's sends, the scheduler's sweep, recovery) from sharing it at once.
        self._side: IMAPClient | None = None
        self._side_lock = threading.Lock()
        self.side_folders: set[str] = set()
        if settings.security == "none" and not _is_loopback(settings.host or ""):
            log.warning("imap.plaintext_connection", mailbox=name)

    def ensure_connected(self) -> IMAPClient:
        """The open connection, or a new one if the backoff allows; else TransientError."""
        if self.client is not None:
            return self.client
        delay = self._backoff.remaining()
        if delay > 0:
            msg = f"{self.name} is unreachable; next attempt in {delay:.0f} s"
            raise TransientError(msg)
        return self.connect()

    def connect(self) -> IMAPClient:
        """Open the watching connection now; on failure back off and raise TransientError."""
        try:
            client = self._open()
        except (*DROPS, IMAPClientError, TransientError) as exc:
            delay = self._backoff.failed()
            self._note_outage(exc)
            msg = f"cannot connect to {self.name}: {describe(exc)}; retrying in {delay:.0f} s"
            raise TransientError(msg) from exc
        self.client, self.selected = client, None
        self.known_folders = set()
        self._backoff.reset()
        self.connected_at = self._clock.now()
        if self._outage_since is not None:
            down = time.monotonic() - self._outage_since
            log.info("imap.reconnected", mailbox=self.name, down_seconds=round(down, 1))
            self._outage_since = None
        else:
            log.info("imap.connected", mailbox=self.name)
        return client

    def reconnect_within(self, deadline: float, stop: threading.Event) -> None:
        """Try to reconnect as the backoff allows until connected, the deadline, or stop."""
        while not stop.is_set():
            delay, left = self._backoff.remaining(), deadline - time.monotonic()
            if left <= 0 or delay > left:
                stop.wait(max(0.0, left))
                return
            if delay > 0 and stop.wait(delay):
                return
            try:
                self.connect()
                return
            except TransientError as exc:  # says when the next attempt really is
                log.warning("imap.reconnect_failed", mailbox=self.name, error=str(exc))

    def lost(self, exc: BaseException, client: IMAPClient | None = None) -> bool:
        """Drop a connection after an error on it; True if it was the watching one."""
        current = client is None or client is self.client
        client = self.client if client is None else client
        if client is not None:
            with contextlib.suppress(Exception):
                client.shutdown()
        if current:  # an older connection failing says nothing about the present one
            self.client, self.selected = None, None
            self._note_outage(exc)
        return current

    def close(self) -> None:
        """Log out of both connections, if open."""
        with self._side_lock:
            if self._side is not None:
                with contextlib.suppress(Exception):
                    self._side.logout()
            self._drop_side()
        client, self.client = self.client, None
        self.selected = None
        if client is not None:
            with contextlib.suppress(Exception):
                client.logout()
            with contextlib.suppress(Exception):
                client.shutdown()

    @contextlib.contextmanager
    def side_connection(self, purpose: str) -> Iterator[IMAPClient]:
        """The second connection, so callers never disturb the IDLE session; one at a time."""
        with self._side_lock:
            try:
                if self._side is None:
                    self._side = self._open()
                yield self._side
            except (*DROPS, IMAPClientError) as exc:
                self._drop_side()
                msg = f"IMAP {purpose} on {self.name} failed: {describe(exc)}"
                raise TransientError(msg) from exc

    def _drop_side(self) -> None:
        client, self._side = self._side, None
        self.side_folders.clear()
        if client is not None:
            with contextlib.suppress(Exception):
                client.shutdown()

    def select(self, client: IMAPClient, folder: str, *, readonly: bool) -> dict[bytes, Any]:
        """Select a folder on the watching connection, remembering it as `selected`."""
        info: dict[bytes, Any] = client.select_folder(self.server_name(folder), readonly=readonly)
        self.selected = (folder, readonly)
        return info

    def server_name(self, folder: str) -> str:
        """Settings write nested folders with "/"; the server may use another separator."""
        if folder.upper() == "INBOX" or not self._delimiter or self._delimiter == "/":
            return folder
        return folder.replace("/", self._delimiter)

    def _note_outage(self, exc: BaseException) -> None:
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            log.warning("imap.connection_lost", mailbox=self.name, reason=describe(exc))

    def _open(self) -> IMAPClient:
        """A logged-in client, with the server's hierarchy separator learnt."""
        client = open_client(self._settings, self._tokens)
        try:
            listed = client.list_folders("", "")
        except BaseException:
            with contextlib.suppress(Exception):
                client.shutdown()
            raise
        delimiter = listed[0][1] if listed else None
        self._delimiter = delimiter.decode() if isinstance(delimiter, bytes) else delimiter
        return client
