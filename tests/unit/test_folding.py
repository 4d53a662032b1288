"""Folded texts: folding parts and joining them is folding the whole, and matching a folded
text finds what matching its normalised string finds."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import get_args

from hypothesis import example, given
from hypothesis import strategies as st

from foi_mailbot.classify import classify
from foi_mailbot.classify.base import ClassifyContext
from foi_mailbot.classify.phrases import ENVIRONMENTAL, NOT_FOI, REVIEW_STRONG, matches
from foi_mailbot.parsing import parse
from foi_mailbot.parsing.folding import (
    Field,
    fold,
    folded,
    headed,
    joined,
    normalise,
    words,
)

FIXTURES = Path(__file__).parents[1] / "fixtures"
PHRASES = (*NOT_FOI, *ENVIRONMENTAL, *REVIEW_STRONG)
WORDS = sorted({w for p in PHRASES for w in normalise(p).split()})
# Whitespace of every kind, curly apostrophes, a final sigma, dotted capital I, punctuation.
TEXT = st.lists(st.one_of(st.sampled_from(WORDS), st.sampled_from(
    [" ", "\n", "\r\n", "\t", "\u00a0", "\u2028", "\u2019", "\u2018", "ΟΔΟΣ", "İ", ",", "-", "é"]
)), max_size=40).map("".join)


@given(TEXT, TEXT)
def test_joining_two_folds_is_folding_the_two_texts_on_two_lines(first: str, second: str) -> None:
    """What the rules read as "subject, then body" is made from the two folds kept."""
    both, whole = joined(fold(first), fold(second)), fold(f"{first}\n{second}")

    assert (both.text, both.words) == (whole.text, whole.words)


@given(TEXT)
def test_a_folded_text_matches_the_phrases_its_normalised_string_matches(text: str) -> None:
    assert matches(fold(text), PHRASES) == matches(normalise(text), PHRASES)


def test_each_text_is_folded_once_and_an_unquoting_reply_shares_its_fold() -> None:
    mail = parse((FIXTURES / "new_request_plain_foia.eml").read_bytes())

    first = folded(mail, "text")

    assert folded(mail, "text") is first
    assert mail.new_text != mail.text or folded(mail, "new_text") is first
    # Subject and body as one text: joined once, shared by the rules that read it.
    assert headed(mail, "text") is headed(mail, "text")
    assert headed(mail, "text").text == fold(f"{mail.subject}\n{mail.text}").text
    assert mail.new_text != mail.text or headed(mail, "new_text") is headed(mail, "text")


def test_a_message_folded_at_once_is_classified_as_one_folded_on_first_use() -> None:
    """Every fixture: folding first or as the rules read gives the same result."""
    alone = ClassifyContext(mailbox_addresses=frozenset({"foi@example.gov.uk"}))
    on_a_case = replace(alone, thread_case="IC-112010-N1W5")  # looser review wording counts
    for path in sorted(FIXTURES.glob("*.eml")):
        raw = path.read_bytes()
        ahead = parse(raw)
        for name in get_args(Field):
            folded(ahead, name)

        for ctx in (alone, on_a_case):
            assert classify(ahead, ctx) == classify(parse(raw), ctx), path.name


@given(st.text() | st.text(st.characters(categories=["Cs", "Ll", "Po", "Zs"])))
@example("caf\u00e9\udc80bar n\u00e9e\u2014done x_y 3\u00bd \udcff")
def test_the_words_of_any_text_are_its_runs_of_word_characters(text: str) -> None:
    """Letters, digits and underscores of every script; any punctuation, space or surrogate."""
    assert words(text) == frozenset(re.findall(r"\w+", text))
