"""Reading commands from replies: first lines only, any case, whatever the mail program adds."""

from __future__ import annotations

import pytest

from foi_mailbot.triage.commands import Command, Unknown, parse_reply


@pytest.mark.parametrize(
    ("text", "verb", "args"),
    [
        ("link IC-000123-N1W5\n\nJane", "link", ("ic-000123-n1w5",)),
        ("Hi,\n\nLINK ic-000123-n1w5.\n\nThanks", "link", ("ic-000123-n1w5",)),
        ("new eir", "new", ("eir",)),
        ("New", "new", ()),
        ("Not FOI", "not_foi", ()),
        ("close IC-000123-N1W5 refused", "close", ("ic-000123-n1w5", "refused")),
        ("merge IC-000123-N1W5 into IC-000124-K2P3", "merge",
         ("ic-000123-n1w5", "ic-000124-k2p3")),
        ("received 2026-12-01", "received", ("2026-12-01",)),
        ("resume replies helpdesk.example.org", "resume_replies", ("helpdesk.example.org",)),
        ("undo 0123456789abcdef0123", "undo", ("0123456789abcdef0123",)),
        ("accept sender", "accept_sender", ()),
    ],
)
def test_a_command_is_read_from_the_first_lines(text: str, verb: str, args: tuple[str, ...]) -> None:
    """Each verb, in any case, with a greeting before it and a signature after it."""
    said = parse_reply(text)

    assert isinstance(said, Command)
    assert (verb, args) == (said.verb, said.args)


def test_a_command_in_quoted_history_is_not_read() -> None:
    """Words below Outlook's From: block belong to an earlier message."""
    said = parse_reply("Sounds good\n\n________________________________\nFrom: x\nlink IC-1-AB")

    assert Unknown("Sounds good") == said


def test_close_without_a_known_outcome_has_none() -> None:
    """An outcome we do not know is not guessed."""
    said = parse_reply("close IC-000123-N1W5 maybe")

    assert isinstance(said, Command)
    assert said.outcome() is None
