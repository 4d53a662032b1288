"""The sent journal: which outbox rows a server accepted, written the instant it did.

Between an SMTP server's acceptance and the outbox row being marked sent in the database, a
kill would leave the row `sending`, and a restart could not tell whether to send it again. The
journal closes that gap: one `write` of the row's id to a file opened for appending, which
needs no lock and survives the process being killed (it is in the kernel once `write`
returns). On restart, `Outbox.recover` treats a journalled row as sent. It is not fsynced: after
a power cut an entry may be missing and that row is settled as before (the Sent folder, or a
person). It lives in the data directory, so it speaks only for sends from this machine.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class SentJournal:
    """Append-only record of accepted sends, cleared once recovery has used it."""

    path: Path
    _fd: int | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def record(self, row_id: int) -> None:
        """Note that the server accepted outbox row `row_id` (one write, no fsync)."""
        with self._lock:
            if self._fd is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            os.write(self._fd, f"{row_id}\n".encode("ascii"))

    def ids(self) -> set[int]:
        """Every row id recorded (a torn last line from a kill mid-write is ignored)."""
        try:
            text = self.path.read_text(encoding="ascii", errors="replace")
        except FileNotFoundError:
            return set()
        return {int(line) for line in text.split("\n")[:-1] if line.isdigit()}

    def clear(self) -> None:
        """Forget every entry (call once no row is left `sending`)."""
        with self._lock:
            self._close()
            self.path.unlink(missing_ok=True)

    def close(self) -> None:
        """Release the file."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
