"""The mailbox's Sent folder over IMAP, as the outbox uses it (see `outbox.SentFolder`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from foi_mailbot.sources.imap_sent import SentFolders


@dataclass(frozen=True)
class ImapSentFolder:
    """A folder of the IMAP account the mail is read from (`ImapSource.sent`)."""

    account: SentFolders
    folder: str

    def has_message_id(self, message_id: str) -> bool | None:
        """True/False if the folder does (not) hold this Message-ID; None if it cannot tell."""
        try:
            return self.account.has_message_id(self.folder, message_id)
        except Exception:  # noqa: BLE001 - any failure means "cannot tell", which flags the row
            return None

    def file_copies(self, raws: Sequence[bytes]) -> None:
        """File copies of sent messages, in one MULTIAPPEND where the server has it."""
        self.account.append_many(self.folder, raws)
