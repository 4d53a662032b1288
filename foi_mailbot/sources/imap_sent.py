"""The IMAP account's Sent folder: where staff replies are read, and our own copies filed.

The configured name is used while it exists; when it does not, the folder the server flags
`\\Sent` is adopted in its place (see `special_use`), for fetching (`resolve`) and for the
outbox alike. Copies are filed (`append_many`) and looked up (`has_message_id`) over the
session's side connection, so they never disturb IDLE on the watching one.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from imapclient import IMAPClient

from foi_mailbot.sources.imap_session import ImapSession
from foi_mailbot.sources.special_use import FolderReport, find_sent_folder


class SentFolders:
    """The account's Sent folders (`sent`: their configured names); adoptions go to `report`."""

    def __init__(self, session: ImapSession, sent: Collection[str], report: FolderReport) -> None:
        self._session = session
        self._sent = frozenset(sent)
        self._report = report
        self._checked: set[str] = set()  # Sent folders looked up by name this run

    def resolve(self, client: IMAPClient, folder: str) -> str:
        """The configured Sent folder, or the one flagged `\\Sent` when it does not exist; any
        other folder as it is."""
        if folder in self._report.adopted:
            return self._report.adopted[folder]
        if folder not in self._checked and folder in self._sent:
            self._checked.add(folder)
            if not client.folder_exists(self._session.server_name(folder)):
                found = find_sent_folder(client)
                if found is not None and found != folder:
                    self._report.adopt(folder, found, self._session.name)
                    return found
        return folder

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
            name = self._session.server_name(self.resolve(client, folder))
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
            name = self._session.server_name(self.resolve(client, folder))
            if not client.folder_exists(name):
                return False
            client.select_folder(name, readonly=True)
            return bool(client.search(["HEADER", "Message-ID", wanted]))
