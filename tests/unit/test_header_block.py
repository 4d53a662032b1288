"""The header block and the Message-ID read from it before a message is parsed."""

from __future__ import annotations

import pytest

from foi_mailbot.parsing.headers import header_block, header_message_id


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
