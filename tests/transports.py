"""A transport for tests that need no SMTP server: it keeps what it is given."""

from __future__ import annotations

from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage


class MemoryTransport:
    """See `Transport`: accepts every message at once and keeps it; fails as told first."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []
        self.fail_with: list[Exception] = []

    def send(self, raw: bytes, on_accepted: Callable[[], None] | None = None) -> None:
        """See `Transport.send`; keeps the message parsed, for the tests to read."""
        if self.fail_with:
            raise self.fail_with.pop(0)
        self.sent.append(message_from_bytes(raw, _class=EmailMessage, policy=policy.SMTP))
        if on_accepted is not None:
            on_accepted()
