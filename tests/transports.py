"""A transport for tests that need no SMTP server: it keeps what it is given."""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


class MemorySentFolder:
    """See `outbox.SentFolder`: files copies in a list (each batch's size noted in `batches`),
    fails as told first, and answers `has_message_id` with `verdict`."""

    def __init__(self, verdict: bool | None = None) -> None:
        self.batches: list[int] = []
        self.fail_with: Exception | None = None
        self.verdict = verdict
        self.asked: list[str] = []

    def has_message_id(self, message_id: str) -> bool | None:
        """See `SentFolder.has_message_id`."""
        self.asked.append(message_id)
        return self.verdict

    def file_copies(self, raws: Sequence[bytes]) -> None:
        """See `SentFolder.file_copies`."""
        if self.fail_with is not None:
            raise self.fail_with
        self.batches.append(len(raws))
