"""The Maildir source: hand over new/ oldest first, move to cur/ after commit, poll for arrivals."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from foi_mailbot.clock import FixedClock
from foi_mailbot.sources.maildir import MaildirSource

FIXTURES = Path(__file__).parent.parent / "fixtures" / "sources"
REQUEST = (FIXTURES / "foi_request_plain.eml").read_bytes()
FOLLOWUP = (FIXTURES / "foi_request_followup.eml").read_bytes()
STAFF_REPLY = (FIXTURES / "staff_reply_sent.eml").read_bytes()


def deliver(maildir: Path, name: str, raw: bytes, *, at: datetime | None = None) -> Path:
    """Deliver as an MTA does: write into tmp/, then rename into new/."""
    staged = maildir / "tmp" / name
    staged.write_bytes(raw)
    if at is not None:
        os.utime(staged, (at.timestamp(), at.timestamp()))
    delivered = maildir / "new" / name
    staged.rename(delivered)
    return delivered


class CountingStop(threading.Event):
    """A stop event that counts poll waits and asks to stop at the first one."""

    def __init__(self) -> None:
        super().__init__()
        self.waits = 0

    def wait(self, timeout: float | None = None) -> bool:
        self.waits += 1
        return True


@pytest.fixture
def source(tmp_path: Path) -> MaildirSource:
    """A MaildirSource over a fresh Maildir."""
    return MaildirSource(tmp_path / "Maildir", "foi@example.gov.uk", FixedClock())


def test_missing_maildir_is_created(tmp_path: Path) -> None:
    """The embedded default works on first start: new/, cur/ and tmp/ are made."""
    MaildirSource(tmp_path / "mail" / "foi", "foi", FixedClock())

    assert {"new", "cur", "tmp"} == {p.name for p in (tmp_path / "mail" / "foi").iterdir()}


def test_new_messages_are_handed_over_oldest_first_dated_by_file_time(
    source: MaildirSource,
) -> None:
    """Order and arrival time come from the files' modification times, in UTC."""
    later = datetime(2026, 1, 6, 14, 3, 15, tzinfo=UTC)
    earlier = datetime(2026, 1, 5, 9, 12, 50, tzinfo=UTC)
    deliver(source.path, "1767800000.M2P1.host", FOLLOWUP, at=later)
    deliver(source.path, "1767900000.M1P1.host", REQUEST, at=earlier)

    fetched = list(source.fetch_new())

    assert [REQUEST, FOLLOWUP] == [m.raw for m in fetched]
    assert [earlier, later] == [m.arrived_at for m in fetched]
    assert f"maildir:{source.path}:1767900000.M1P1.host" == fetched[0].source_key
    assert ("inbound", "INBOX", None) == (fetched[0].direction, fetched[0].folder, fetched[0].uid)


def test_mark_done_moves_the_file_to_cur_with_the_seen_flag(source: MaildirSource) -> None:
    """After the commit the file leaves new/ for cur/, named with ':2,S'."""
    deliver(source.path, "1767900000.M1P1.host", REQUEST)
    [mail] = source.fetch_new()

    source.mark_done(mail)

    assert [] == list((source.path / "new").iterdir())
    assert ["1767900000.M1P1.host:2,S"] == [p.name for p in (source.path / "cur").iterdir()]
    assert [] == list(source.fetch_new())


def test_mark_done_keeps_flags_already_on_the_file(source: MaildirSource) -> None:
    """Existing Maildir flags survive, and S joins them in ASCII order."""
    deliver(source.path, "1767900000.M1P1.host:2,F", REQUEST)
    [mail] = source.fetch_new()

    source.mark_done(mail)

    assert ["1767900000.M1P1.host:2,FS"] == [p.name for p in (source.path / "cur").iterdir()]


def test_message_not_marked_done_is_handed_over_again(source: MaildirSource) -> None:
    """A file whose raw row never committed stays in new/ and comes back next time."""
    deliver(source.path, "1767900000.M1P1.host", REQUEST)
    first = list(source.fetch_new())

    again = list(source.fetch_new())

    assert [m.source_key for m in first] == [m.source_key for m in again]


def test_sent_subfolder_is_read_as_sent_mail(source: MaildirSource) -> None:
    """A Maildir++ .Sent folder is handed over after the inbox, with direction "sent"."""
    sent = source.path / ".Sent"
    for sub in ("new", "cur", "tmp"):
        (sent / sub).mkdir(parents=True)
    deliver(sent, "1767950000.M3P1.host", STAFF_REPLY)
    deliver(source.path, "1767900000.M1P1.host", REQUEST)

    fetched = list(source.fetch_new())
    source.mark_done(fetched[1])

    assert [("INBOX", "inbound"), ("Sent", "sent")] == [(m.folder, m.direction) for m in fetched]
    assert ["1767950000.M3P1.host:2,S"] == [p.name for p in (sent / "cur").iterdir()]


def test_wait_returns_at_once_for_mail_not_yet_fetched(source: MaildirSource) -> None:
    """Mail already waiting in new/ ends wait() before any poll interval."""
    deliver(source.path, "1767900000.M1P1.host", REQUEST)
    stop = CountingStop()

    source.wait(60, stop)

    assert 0 == stop.waits


def test_wait_wakes_when_a_message_is_delivered(source: MaildirSource) -> None:
    """A delivery into new/ during wait() ends it at the next poll."""
    stop = threading.Event()
    worker = threading.Thread(target=source.wait, args=(60, stop), daemon=True)
    worker.start()

    deliver(source.path, "1767900000.M1P1.host", REQUEST)
    worker.join(5)

    stop.set()
    assert not worker.is_alive()


def test_wait_ignores_mail_already_handed_over(source: MaildirSource) -> None:
    """A message that failed to commit does not make wait() return at once and spin."""
    deliver(source.path, "1767900000.M1P1.host", REQUEST)
    list(source.fetch_new())
    stop = CountingStop()

    source.wait(60, stop)

    assert 1 == stop.waits


def test_stop_ends_wait(source: MaildirSource) -> None:
    """Setting the stop event ends wait() at once."""
    stop = threading.Event()
    worker = threading.Thread(target=source.wait, args=(600, stop), daemon=True)
    worker.start()

    stop.set()
    worker.join(5)

    assert not worker.is_alive()


def test_fetch_records_last_sync_from_the_clock(tmp_path: Path) -> None:
    """last_sync is the injected clock's time after a complete fetch."""
    clock = FixedClock()
    source = MaildirSource(tmp_path, "foi", clock)

    list(source.fetch_new())

    assert clock.now() == source.last_sync
