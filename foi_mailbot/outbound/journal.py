"""The sent journal: which outbox rows this machine claimed, tried and saw accepted.

Between an SMTP server's acceptance and the outbox row being marked sent in the database, a
kill would leave the row `sending`, and a restart could not tell whether to send it again. The
journal closes that gap: one `write` to a file opened for appending, which needs no lock and
survives the process being killed (it is in the kernel once `write` returns). On restart,
`Outbox.recover` treats an accepted row as sent.

It also lets several rows be claimed in one durable commit: each send is preceded by a `tried`
line, so a row claimed here and never tried is known to be unsent and is simply due again.
That reading holds only while the kernel that took the writes is still running: nothing here
is fsynced, so after a power cut or reboot (a new boot id) an entry may be missing, and only
`accepted` lines are believed; every other stuck row is settled as before (the Sent folder, or
a person). It lives in the data directory, so it speaks only for sends from this machine.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def boot_id() -> str | None:
    """This machine's boot id (Linux), None where there is none to read."""
    try:
        return BOOT_ID.read_text(encoding="ascii").strip() or None
    except OSError:
        return None


@dataclass(frozen=True)
class JournalView:
    """What a journal says about outbox rows left `sending`."""

    accepted: frozenset[int] = frozenset()
    claimed: frozenset[int] = frozenset()
    tried: frozenset[int] = frozenset()
    this_boot: bool = False

    def never_tried(self, row_id: int) -> bool:
        """True when the row was claimed here, in this boot, and no send of it began."""
        return self.this_boot and row_id in self.claimed and row_id not in self.tried


@dataclass
class SentJournal:
    """Append-only record of claims, tries and acceptances, cleared once recovery used it."""

    path: Path
    _fd: int | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def record(self, row_id: int) -> None:
        """Note that the server accepted outbox row `row_id` (one write, no fsync)."""
        self._write(f"{row_id}\n")

    def claimed(self, row_ids: Iterable[int]) -> None:
        """Note rows this process claimed in a commit that has returned."""
        self._write("claimed " + ",".join(str(row_id) for row_id in row_ids) + "\n")

    def tried(self, row_id: int) -> None:
        """Note that a send of `row_id` is about to begin."""
        self._write(f"tried {row_id}\n")

    def read(self) -> JournalView:
        """Every whole line (a torn last line from a kill mid-write is ignored)."""
        try:
            text = self.path.read_text(encoding="ascii", errors="replace")
        except FileNotFoundError:
            return JournalView()
        lines = text.split("\n")[:-1]
        accepted: set[int] = set()
        claimed: set[int] = set()
        tried: set[int] = set()
        boots: set[str] = set()
        for line in lines:
            word, _, rest = line.partition(" ")
            if word.isdigit() and not rest:
                accepted.add(int(word))
            elif word == "boot":
                boots.add(rest)
            elif word == "claimed":
                claimed.update(int(part) for part in rest.split(",") if part.isdigit())
            elif word == "tried" and rest.isdigit():
                tried.add(int(rest))
        now = boot_id()
        this_boot = now is not None and boots == {now}
        return JournalView(frozenset(accepted), frozenset(claimed), frozenset(tried), this_boot)

    def clear(self) -> None:
        """Forget every entry (call once no row is left `sending`)."""
        with self._lock:
            self._close()
            self.path.unlink(missing_ok=True)

    def close(self) -> None:
        """Release the file."""
        with self._lock:
            self._close()

    def _write(self, line: str) -> None:
        with self._lock:
            if self._fd is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                # Every line after this one was written under this boot's kernel.
                os.write(self._fd, f"boot {boot_id() or 'unknown'}\n".encode("ascii"))
            os.write(self._fd, line.encode("ascii"))

    def _close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
