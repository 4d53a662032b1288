"""Reading commands from replies: first lines only, any case, whatever the mail program adds;
in a reply to the daily summary, each line naming its item by its token."""

from __future__ import annotations

import pytest

from foi_mailbot.triage.commands import (
    Command,
    Unknown,
    holds_token_shape,
    named_lines,
    parse_reply,
)


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


A, B, C = "3f9a0c1d2e4b5a697887", "5b1e0c1d2e4b5a697887", "77aa0c1d2e4b5a697887"


def test_lines_naming_their_item_are_read_in_each_form_the_summary_shows() -> None:
    """`<token> command`, `[FOI triage <token>] command`, `<token>: command` and `undo <token>`
    each name their item; a greeting and a sign-off are not lines about any item."""
    text = (f"Morning,\n\n{A} not foi\n[FOI triage {B}] Ignore.\n{C}: new eir\n"
            f"undo {A}\n\nThanks, Jane")

    named = named_lines(text)

    assert [(A, "not_foi"), (B, "ignore"), (C, "new"), (A, "undo")] == [
        (token, said.verb) for token, said in named if isinstance(said, Command)]
    assert f"[FOI triage {B}] Ignore." == named[1][1].line


def test_a_line_naming_an_item_without_a_command_is_not_understood() -> None:
    """The token is read, and what follows it is kept to be answered."""
    assert [(A, Unknown(f"{A} please look at this"))] == named_lines(f"{A} please look at this")


def test_the_quoted_summary_is_not_read_even_without_a_reply_header() -> None:
    """Every line of the summary names an item: from its heading down, nothing is read."""
    text = (f"{A} not foi\n\nSet-aside mail waiting for a look: 2 message(s) set aside\n"
            f"  2026-01-12  seo@example.net  \"Offer\"\n      {B} not foi")

    assert [A] == [token for token, _ in named_lines(text)]


def test_a_token_is_seen_in_any_case_and_among_any_characters() -> None:
    """Outlook may capitalise a pasted token, and it may sit in text of any script; a run of
    nineteen hex digits (a date, a phone number) is not a token's shape."""
    assert holds_token_shape(f"Grüße — {A.upper()} not foi")
    assert holds_token_shape(f"Re: [FOI triage {A}]")
    assert not holds_token_shape("ref 2026121712345678901 and 0123456789abcdef012 — naïve")
    assert [(A, "not_foi")] == [(token, said.verb) for token, said in
                                named_lines(f"{A.upper()} not foi") if isinstance(said, Command)]
