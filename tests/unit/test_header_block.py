"""The header block and the Message-ID read from it before a message is parsed."""

from __future__ import annotations

from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

import pytest

from foi_mailbot.parsing.headers import header_block, header_message_id

FIXTURES = Path(__file__).parents[1] / "fixtures"


@pytest.mark.parametrize(
    ("raw", "head"),
    [
        (b"A: 1\r\nB: 2\r\n\r\nbody\r\n\r\nmore", b"A: 1\r\nB: 2"),
        (b"A: 1\nB: 2\n\nbody\n\nmore", b"A: 1\nB: 2"),
        (b"A: 1\nB: 2\n\nbody with\r\n\r\na CRLF blank line", b"A: 1\nB: 2"),
        (b"A: 1\r\nB: 2\r\n\r\nbody with\n\na bare blank line", b"A: 1\r\nB: 2"),
        (b"A: 1\r\nB: 2", b"A: 1\r\nB: 2"),
    ],
)
def test_the_header_block_ends_at_the_first_blank_line_of_either_kind(
    raw: bytes, head: bytes
) -> None:
    """CRLF or bare LF line ends, or a message that is all headers."""
    assert head == header_block(raw)


def test_a_message_id_in_the_body_is_not_the_message_id() -> None:
    """Only the header block is read: a quoted Message-ID line below it does not count."""
    raw = b"Subject: hi\r\n\r\nMessage-ID: <quoted@example.org>\r\n"

    assert header_message_id(raw) is None
    assert "own@example.org" == header_message_id(b"Message-ID:\r\n <own@example.org>\r\n" + raw)


def test_the_message_id_read_at_store_time_is_the_header_parsers() -> None:
    """On every fixture, the quick read gives what the email package's header parser gives."""
    parser = BytesHeaderParser(policy=compat32)
    for path in sorted(FIXTURES.rglob("*.eml")):
        raw = path.read_bytes()
        value = parser.parsebytes(header_block(raw)).get("Message-ID")
        expected = "".join(str(value).split()).strip("<>")[:990] or None if value else None

        assert expected == header_message_id(raw), path.name


@pytest.mark.parametrize(
    ("raw", "found"),
    [
        (b"message-id: <lower@example.org>\r\n\r\n", "lower@example.org"),
        (b"Subject: x\nMessage-ID:\n\t<folded@\n example.org>\nTo: y\n\nbody", "folded@example.org"),
        (b"Message-ID: <first@example.org>\nMessage-ID: <second@example.org>\n\n", "first@example.org"),
        (b"X-Message-ID: <not-this@example.org>\n\n", None),
        (b"Message-ID: <>\n\n", None),
    ],
)
def test_the_message_id_field_is_found_folded_in_any_case_and_first(
    raw: bytes, found: str | None
) -> None:
    """Field names are case-insensitive, folded values unfolded, and the first field counts."""
    assert found == header_message_id(raw)
