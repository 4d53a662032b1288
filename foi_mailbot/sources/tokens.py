"""OAuth2 access tokens for XOAUTH2 login (IMAP and SMTP), asked for before every login.

A token comes from a built-in provider (`foi_mailbot.oauth`: Microsoft Entra ID, Google), or
from outside: an operator's command, or a file kept current by another service. Logins ask their
`TokenProvider` each time, because tokens expire, and call `invalidate` once when a server
refuses one, then ask again.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Protocol

from foi_mailbot.errors import ConfigError, TransientError
from foi_mailbot.settings import MailboxSettings

COMMAND_TIMEOUT_SECONDS = 30.0


class TokenProvider(Protocol):
    """Supplies a current OAuth2 access token."""

    def token(self) -> str:
        """Return a token valid for at least the next login; raise TransientError if none."""
        ...

    def invalidate(self) -> None:
        """Forget any token held: a server refused it, so the next `token()` fetches anew."""
        ...


class CommandTokenProvider:
    """See `TokenProvider`: runs a command and reads the token from its standard output."""

    def __init__(self, command: str, *, timeout: float = COMMAND_TIMEOUT_SECONDS) -> None:
        self.argv = shlex.split(command)
        if not self.argv:
            msg = "mailbox.token_command is empty"
            raise ConfigError(msg)
        self.timeout = timeout

    def invalidate(self) -> None:
        """Nothing is held: the command runs at every login."""

    def token(self) -> str:
        # The command comes from the operator's own configuration, never from mail.
        try:
            done = subprocess.run(  # noqa: S603
                self.argv, capture_output=True, timeout=self.timeout, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            msg = f"the token command {self.argv[0]!r} could not be run: {exc.__class__.__name__}"
            raise TransientError(msg) from exc
        if done.returncode != 0:
            # stderr may echo secrets, so only the exit status is reported.
            msg = f"the token command {self.argv[0]!r} exited with status {done.returncode}"
            raise TransientError(msg)
        return _non_empty(done.stdout.decode("utf-8", "replace"), f"command {self.argv[0]!r}")


class FileTokenProvider:
    """See `TokenProvider`: reads the token from a file, again at every login."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def invalidate(self) -> None:
        """Nothing is held: the file is read at every login."""

    def token(self) -> str:
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            msg = f"the token file {self.path} could not be read: {exc.strerror}"
            raise TransientError(msg) from exc
        return _non_empty(text, f"file {self.path}")


def _non_empty(text: str, where: str) -> str:
    token = text.strip()
    if not token:
        msg = f"the token {where} gave an empty token"
        raise TransientError(msg)
    return token


def provider_from_settings(settings: MailboxSettings) -> TokenProvider:
    """The provider named in the mailbox settings (token_command wins over token_file)."""
    if settings.token_command:
        return CommandTokenProvider(settings.token_command)
    if settings.token_file is not None:
        return FileTokenProvider(settings.token_file)
    msg = ('mailbox.auth is "xoauth2" but no token source is configured: set [oauth] provider '
           "(or mailbox.token_command / mailbox.token_file)")
    raise ConfigError(msg)
