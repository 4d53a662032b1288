"""One-shot import of .eml files, mbox files and Maildirs from disk."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from foi_mailbot.errors import UsageError
from foi_mailbot.sources.files import count_paths, detect, from_line_date, iter_paths

FIXTURES = Path(__file__).parent.parent / "fixtures" / "sources"
REQUEST_EML = FIXTURES / "foi_request_plain.eml"
FOLLOWUP_EML = FIXTURES / "foi_request_followup.eml"
MBOX = FIXTURES / "three_requests.mbox"


def make_maildir(root: Path) -> Path:
    """A Maildir with one message in cur/ (read) and one in new/."""
    for sub in ("new", "cur", "tmp"):
        (root / sub).mkdir(parents=True)
    shutil.copy(REQUEST_EML, root / "cur" / "1767900000.M1P1.host:2,S")
    shutil.copy(FOLLOWUP_EML, root / "new" / "1767950000.M2P1.host")
    return root


def test_single_eml_file_is_one_message_keyed_by_its_path() -> None:
    """A file that does not start with "From " is one message, bytes unchanged."""
    [mail] = iter_paths([REQUEST_EML])

    assert REQUEST_EML.read_bytes() == mail.raw
    assert f"file:{REQUEST_EML.absolute()}" == mail.source_key
    assert "inbound" == mail.direction
    assert UTC == mail.arrived_at.tzinfo


def test_mbox_is_split_into_messages_dated_by_their_from_lines() -> None:
    """Each "From " separator starts a message; its date becomes the arrival time."""
    mails = list(iter_paths([MBOX]))

    assert 3 == len(mails)
    assert [f"mbox:{MBOX.absolute()}:{i}" for i in range(3)] == [m.source_key for m in mails]
    assert datetime(2026, 1, 5, 9, 12, 50, tzinfo=UTC) == mails[0].arrived_at
    assert datetime(2026, 1, 6, 14, 3, 15, tzinfo=UTC) == mails[1].arrived_at
    assert mails[0].raw.startswith(b"From: Jane Applicant")
    assert mails[0].raw.endswith(b"if possible.\n")


def test_escaped_from_line_stays_inside_the_body() -> None:
    """A ">From" line in a body is kept as written and does not split the message."""
    first = next(iter(iter_paths([MBOX])))

    assert b"\n>From the council's own figures" in first.raw


def test_mbox_separator_without_a_date_falls_back_to_the_file_time(tmp_path: Path) -> None:
    """An unparseable From_ date gives the mbox file's modification time."""
    copy = tmp_path / "export.mbox"
    shutil.copy(MBOX, copy)
    stamp = datetime(2025, 12, 31, 23, 0, tzinfo=UTC).timestamp()
    os.utime(copy, (stamp, stamp))

    last = list(iter_paths([copy]))[-1]

    assert datetime(2025, 12, 31, 23, 0, tzinfo=UTC) == last.arrived_at


def test_maildir_directory_yields_read_and_unread_mail(tmp_path: Path) -> None:
    """A directory with cur/ and new/ is a Maildir; both are imported, keyed by Maildir key."""
    root = make_maildir(tmp_path / "old-mailbox")

    mails = list(iter_paths([root]))

    assert [
        f"maildir:{root}:1767900000.M1P1.host",
        f"maildir:{root}:1767950000.M2P1.host",
    ] == [m.source_key for m in mails]


def test_plain_directory_is_walked_and_each_entry_detected(tmp_path: Path) -> None:
    """A directory that is not a Maildir is walked in name order, nested Maildirs included."""
    shutil.copy(REQUEST_EML, tmp_path / "a-request.eml")
    shutil.copy(MBOX, tmp_path / "b-export.mbox")
    make_maildir(tmp_path / "c-maildir")
    (tmp_path / ".hidden.eml").write_bytes(b"Subject: ignored\n\n")

    mails = list(iter_paths([tmp_path]))

    assert ["file", "mbox", "mbox", "mbox", "maildir", "maildir"] == [
        m.source_key.split(":", 1)[0] for m in mails
    ]


def test_count_paths_agrees_with_iter_paths(tmp_path: Path) -> None:
    """The progress total is exactly the number of messages imported."""
    shutil.copy(MBOX, tmp_path / "export.mbox")
    make_maildir(tmp_path / "maildir")
    paths = [REQUEST_EML, tmp_path]

    assert len(list(iter_paths(paths))) == count_paths(paths)
    assert 6 == count_paths(paths)


def test_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    """A path that does not exist is reported by name."""
    with pytest.raises(UsageError, match=r"nowhere\.eml"):
        list(iter_paths([tmp_path / "nowhere.eml"]))


def test_detect_tells_the_kinds_apart(tmp_path: Path) -> None:
    """Maildir, plain directory, mbox and single message are told apart."""
    make_maildir(tmp_path / "md")

    assert ("eml", "mbox", "maildir", "directory") == (
        detect(REQUEST_EML), detect(MBOX), detect(tmp_path / "md"), detect(tmp_path)
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"From a@example.net Mon Jan  5 09:12:50 2026\n", datetime(2026, 1, 5, 9, 12, 50)),
        (b"From a@example.net Sat Feb 29 23:59:59 2020\n", datetime(2020, 2, 29, 23, 59, 59)),
        (b"From monica@example.net Tue Mar 31 01:30:00 2026\n", datetime(2026, 3, 31, 1, 30)),
        (b"From a@example.net Thu Oct 29 10:00:00 +0100 2026\n", datetime(2026, 10, 29, 9, 0)),
        (b"From MAILER-DAEMON Fri Dec 25 00:00:00 2026 remote from x\n", datetime(2026, 12, 25)),
        (b"From a@example.net not-a-date\n", None),
        (b"From a@example.net Mon Foo  5 09:12:50 2026\n", None),
    ],
)
def test_from_line_date_reads_asctime_as_utc(line: bytes, expected: datetime | None) -> None:
    """asctime dates on separator lines are read as UTC, honouring an explicit zone."""
    wanted = expected.replace(tzinfo=UTC) if expected else None

    assert wanted == from_line_date(line)
