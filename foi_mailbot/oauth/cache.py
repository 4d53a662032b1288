"""A token kept until shortly before it expires, fetched again on demand after a refusal."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import structlog

from foi_mailbot.clock import Clock
from foi_mailbot.errors import TransientError

log = structlog.get_logger(__name__)

REFRESH_MARGIN: Final = timedelta(minutes=5)
"""A token is fetched again this long before it expires: a login must not race its expiry."""


class TokenError(TransientError):
    """No token could be had; the message is the identity provider's own words."""


@dataclass(frozen=True)
class Token:
    """An access token and, when the provider says, the instant it stops working."""

    value: str
    expires_at: datetime | None = None


Fetch = Callable[[], Token]
Report = Callable[[str | None], None]


class CachedTokens:
    """See `sources.tokens.TokenProvider`: one token shared by every login until it is due.

    `on_result` (when given) is told of every fetch: `None` after a success, the provider's
    error text after a failure; the daemon turns that into health and alerts. Thread-safe:
    the mail loop and the outbox's sending thread may ask at once.
    """

    def __init__(
        self, fetch: Fetch, clock: Clock, *, name: str, on_result: Report | None = None
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self.name = name
        self._lock = threading.Lock()
        self._token: Token | None = None
        self.on_result = on_result
        self.last_error: str | None = None

    def token(self) -> str:
        """A token valid for at least five more minutes; `TokenError` if none can be had."""
        with self._lock:
            now = self._clock.now()
            held = self._token
            if held and held.expires_at and now < held.expires_at - REFRESH_MARGIN:
                return held.value
            try:
                fresh = self._fetch()
            except TransientError as exc:
                self._token = None
                self._report(str(exc))
                raise
            self._token = fresh
            log.info("oauth.token_fetched", provider=self.name,
                     expires_at=fresh.expires_at.isoformat() if fresh.expires_at else None)
            self._report(None)
            return fresh.value

    def invalidate(self) -> None:
        """Forget the held token (a server refused it): the next login fetches a new one."""
        with self._lock:
            if self._token is not None:
                log.info("oauth.token_refused", provider=self.name)
            self._token = None

    def _report(self, error: str | None) -> None:
        if error is not None and error != self.last_error:
            log.error("oauth.token_unavailable", provider=self.name, error=error)
        self.last_error = error
        if self.on_result is not None:
            self.on_result(error)
