"""The sent journal: which outbox rows this machine claimed, tried, and saw accepted or refused.

Between an SMTP server's acceptance and the outbox row being marked sent in the database, a
kill or a database outage would leave the row `sending`, and the next drain could not tell
whether to send it again. The journal closes that gap: one `write` to a file opened for
appending, which needs no lock and survives the process being killed (it is in the kernel once
`write` returns). `Outbox.recover` reads it before anything else is sent.

It also lets several rows be claimed in one durable commit: each send is preceded by a `tried`
line, so a row claimed here and never tried is known to be unsent and is simply due again.
That reading holds only while the kernel that took the writes is still running: nothing here
is fsynced, so after a power cut or reboot (a new boot id) a line may be missing, and only
`accepted` lines are believed; every other stuck row is settled as in doubt (the Sent folder,
or a person). It lives in the data directory, so it speaks only for sends from this machine;
`held` keeps two senders on this machine from reading it while the other is writing it.
"""

from __future__ import annotations

import enum
import fcntl
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def boot_id() -> str | None:
    """This machine's boot id (Linux), None where there is none to read."""
    try:
        return BOOT_ID.read_text(encoding="ascii").strip() or None
    except OSError:
        return None


class Said(enum.Enum):
    """What the journal says became of a row: the last thing written about it."""

    CLAIMED = "claimed"  # claimed here; no send of it began
    TRIED = "tried"  # a send began and its end was not seen: in doubt
    ACCEPTED = "accepted"  # the server took it
    FAILED = "failed"  # the server or the connection failed it for now: not sent
    REFUSED = "refused"  # the server refused it for good: not sent


@dataclass(frozen=True)
class JournalView:
    """What a journal says about outbox rows left `sending`."""

    last: Mapping[int, Said] = field(default_factory=lambda: MappingProxyType({}))
    this_boot: bool = False

    @property
    def accepted(self) -> frozenset[int]:
        """Rows the server accepted (believed after a reboot too)."""
        return frozenset(row_id for row_id, said in self.last.items() if said is Said.ACCEPTED)

    def says(self, row_id: int) -> Said | None:
        """What can be believed about a row; None when the journal cannot tell.

        After a reboot a line may have been lost, so only an acceptance is believed then.
        """
        said = self.last.get(row_id)
        if said is Said.ACCEPTED or (self.this_boot and said is not Said.TRIED):
            return said
        return None


@dataclass
class SentJournal:
    """Append-only record of claims, tries and outcomes, cleared once recovery used it."""

    path: Path
    _fd: int | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @contextmanager
    def held(self) -> Iterator[None]:
        """Be the one sender on this machine using the journal, until the block ends.

        A second sender (the scheduler's sweep, a CLI command) waits: otherwise its recovery
        would read a row this one is sending as left in doubt.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock; so does the kernel if the process is killed

    def claimed(self, row_ids: Iterable[int]) -> None:
        """Note rows claimed in a commit about to be made (a kill after it finds them here)."""
        self._write("claimed " + ",".join(str(row_id) for row_id in row_ids) + "\n")

    def tried(self, row_id: int) -> None:
        """Note that a send of `row_id` is about to begin."""
        self._write(f"tried {row_id}\n")

    def record(self, row_id: int) -> None:
        """Note that the server accepted outbox row `row_id` (one write, no fsync)."""
        self._write(f"{row_id}\n")

    def failed(self, row_id: int, *, permanent: bool) -> None:
        """Note that the send of `row_id` failed, so it did not go."""
        self._write(f"{'refused' if permanent else 'failed'} {row_id}\n")

    def read(self) -> JournalView:
        """Every whole line (a torn last line from a kill mid-write is ignored)."""
        try:
            text = self.path.read_text(encoding="ascii", errors="replace")
        except FileNotFoundError:
            return JournalView()
        last: dict[int, Said] = {}
        boots: set[str] = set()
        for line in text.split("\n")[:-1]:
            word, _, rest = line.partition(" ")
            if word.isdigit() and not rest:
                last[int(word)] = Said.ACCEPTED
            elif word == "boot":
                boots.add(rest)
            elif word in ("claimed", "tried", "failed", "refused"):
                for part in rest.split(","):
                    # An acceptance is final: nothing written later about the row undoes it.
                    if part.isdigit() and last.get(int(part)) is not Said.ACCEPTED:
                        last[int(part)] = Said(word)
        now = boot_id()
        return JournalView(MappingProxyType(last), now is not None and boots == {now})

    def clear(self) -> None:
        """Forget every entry (call once no row it speaks of is left `sending`)."""
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
