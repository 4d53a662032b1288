"""Phrase matching: its quick look-ups never change what the patterns alone would find."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from foi_mailbot.classify.phrases import (
    ENVIRONMENTAL,
    ENVIRONMENTAL_WEAK,
    NOT_FOI,
    _found,
    _pattern,
    matches,
    normalise,
)

PHRASES = (*NOT_FOI, *ENVIRONMENTAL, *ENVIRONMENTAL_WEAK, "can't find", "e-mail", "out-of-office",
           "tree", "freedom of information")
# The phrases' own words, and characters that sit next to words in real mail.
WORDS = sorted({w for p in PHRASES for w in normalise(p).split()} | {"s", "es", "x", "é"})
PIECES = st.one_of(st.sampled_from(WORDS), st.sampled_from(list(" \n,.'’-_()/é2")))


def _plain(text: str) -> list[str]:
    return [p for p in dict.fromkeys(PHRASES) if _found(_pattern(p), text)]


@given(st.lists(PIECES, max_size=60))
def test_matching_finds_exactly_what_the_patterns_alone_find(pieces: list[str]) -> None:
    """Words glued to letters, plurals, punctuation and hyphens: the same phrases either way."""
    text = normalise("".join(pieces))

    assert _plain(text) == matches(text, PHRASES)


def test_a_plural_and_a_word_in_brackets_are_found_and_a_longer_word_is_not() -> None:
    """'trees' and '(drainage)' count; 'streets' and 'treetop' do not."""
    text = normalise("The trees (drainage), streets and a treetop.")

    assert ["tree", "drainage"] == matches(text, ("tree", "drainage", "street view", "top"))
