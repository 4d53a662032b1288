"""Tokens from Google for a Workspace mailbox: a service account with domain-wide delegation.

The service account signs a JWT naming the mailbox as its subject and exchanges it at Google's
token URI (the key file's `token_uri`) for an access token with the scope
`https://mail.google.com/`. A Workspace administrator must allow the service account's client ID
that scope under domain-wide delegation (see docs/google-workspace.md).
"""

from __future__ import annotations

from datetime import UTC
from typing import Final

from foi_mailbot.clock import Clock
from foi_mailbot.errors import ConfigError
from foi_mailbot.oauth.cache import Token, TokenError
from foi_mailbot.settings import OAuthSettings

DEFAULT_SCOPE: Final = "https://mail.google.com/"


class GoogleTokens:
    """Fetches delegated tokens for one Workspace mailbox."""

    def __init__(self, settings: OAuthSettings, subject: str | None, clock: Clock) -> None:
        if settings.service_account_file is None:
            msg = 'oauth.provider = "google" needs oauth.service_account_file (the JSON key)'
            raise ConfigError(msg)
        subject = settings.subject or subject
        if not subject:
            msg = 'oauth.provider = "google" needs oauth.subject or mailbox.username'
            raise ConfigError(msg)
        self.key_file = settings.service_account_file
        self.subject = subject
        self.scope = settings.scope or DEFAULT_SCOPE
        self.clock = clock

    def __call__(self) -> Token:
        """Exchange a signed assertion for a token; `TokenError` with Google's words if refused."""
        from google.auth.exceptions import GoogleAuthError
        from google.auth.transport.requests import Request
        from google.oauth2 import service_account

        try:
            credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                str(self.key_file), scopes=[self.scope], subject=self.subject)
        except (OSError, ValueError) as exc:
            msg = f"the service account key {self.key_file} cannot be used: {exc}"
            raise TokenError(msg) from exc
        try:
            credentials.refresh(Request())
        except GoogleAuthError as exc:
            reason = exc.args[0] if exc.args else type(exc).__name__
            msg = f"Google sign-in refused: {reason}"
            raise TokenError(msg) from exc
        expiry = credentials.expiry
        # google-auth keeps expiry as a naive UTC datetime.
        expires_at = expiry.replace(tzinfo=UTC) if expiry is not None else None
        return Token(str(credentials.token), expires_at)
