"""Which token source each side (mailbox, SMTP) uses, from the settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from foi_mailbot.clock import Clock
from foi_mailbot.errors import ConfigError
from foi_mailbot.oauth.cache import CachedTokens, Report, Token
from foi_mailbot.settings import MailboxSettings, Settings, SmtpSettings
from foi_mailbot.sources.tokens import CommandTokenProvider, FileTokenProvider, TokenProvider


def _outside(command: str | None, file: Path | None) -> TokenProvider | None:
    if command:
        return CommandTokenProvider(command)
    if file is not None:
        return FileTokenProvider(file)
    return None


def uses_xoauth2(settings: Settings) -> bool:
    """True when the mailbox or SMTP logs in with OAuth2."""
    imap = settings.mailbox.uses_imap() and settings.mailbox.auth == "xoauth2"
    smtp = bool(settings.smtp.host) and settings.smtp.auth == "xoauth2"
    return imap or smtp


def shared_tokens(
    settings: Settings, clock: Clock, *, on_result: Report | None = None
) -> CachedTokens | None:
    """The `[oauth]` provider, shared by both sides; None when the section names none.
    `on_result` is told of every fetch (see `CachedTokens`).

    Only the built-in providers are cached: a command or a file is asked at every login, as it
    knows best when its token expires.
    """
    oauth = settings.oauth
    fetch: Callable[[], Token]
    if oauth.provider == "microsoft":
        from foi_mailbot.oauth.microsoft import MicrosoftTokens

        fetch = MicrosoftTokens(oauth, clock)
    elif oauth.provider == "google":
        from foi_mailbot.oauth.google import GoogleTokens

        fetch = GoogleTokens(oauth, settings.mailbox.username, clock)
    elif oauth.provider in ("command", "file") or oauth.token_command or oauth.token_file:
        outside = _outside(oauth.token_command, oauth.token_file)
        if outside is None:
            msg = f'oauth.provider = "{oauth.provider}" needs oauth.token_{oauth.provider}'
            raise ConfigError(msg)
        provider = outside
        fetch = lambda: Token(provider.token())  # noqa: E731 - no expiry known: never kept
    else:
        return None
    return CachedTokens(fetch, clock, name=oauth.provider or "command", on_result=on_result)


def tokens_for(
    side: MailboxSettings | SmtpSettings, shared: TokenProvider | None, section: str
) -> TokenProvider:
    """The token source for one side: its own command or file, else the shared provider."""
    own = _outside(side.token_command, side.token_file)
    if own is not None:
        return own
    if shared is None:
        msg = (f'{section}.auth is "xoauth2" but no token source is configured: set '
               '[oauth] provider = "microsoft" or "google" (or a token_command / token_file)')
        raise ConfigError(msg)
    return shared
