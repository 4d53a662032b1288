"""Folded texts: folding parts and joining them is folding the whole, matching a folded text
finds what matching its normalised string finds, and a message's fold holds each of its texts
folded."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st

from foi_mailbot.classify import classify
from foi_mailbot.classify.base import ClassifyContext
from foi_mailbot.classify.phrases import ENVIRONMENTAL, NOT_FOI, REVIEW_STRONG, matches
from foi_mailbot.parsing import parse
from foi_mailbot.parsing.folding import fold, fold_mail, joined, normalise, words

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


@given(TEXT, TEXT, TEXT)
def test_a_message_is_folded_as_each_of_its_texts_folded_alone(
    subject: str, new_text: str, rest: str
) -> None:
    """The text is folded from its opening new text where they part at whitespace (or else
    whole): either way, as the text alone folds."""
    parsed = parse((FIXTURES / "new_request_plain_foia.eml").read_bytes())
    mail = replace(parsed, subject=subject, text=new_text + rest, new_text=new_text)

    folded = fold_mail(mail)

    assert folded.text == fold(mail.text)
    assert folded.new_text == fold(mail.new_text)
    assert folded.subject_text == fold(f"{subject}\n{mail.text}")
    assert folded.subject_new_text == fold(f"{subject}\n{new_text}")


def test_a_message_whose_new_text_is_all_its_text_has_one_fold_for_both() -> None:
    parsed = parse((FIXTURES / "new_request_plain_foia.eml").read_bytes())
    mail = replace(parsed, new_text=parsed.text)  # nothing quoted, no signature set apart

    folded = fold_mail(mail)

    assert folded.new_text is folded.text
    assert folded.subject_new_text is folded.subject_text
    assert folded.text == fold(mail.text)


def test_a_reply_that_quotes_earlier_mail_has_its_new_text_folded_apart() -> None:
    mail = parse((FIXTURES / "clarification_quotes_review_procedure.eml").read_bytes())
    assert mail.new_text.strip() and mail.new_text != mail.text

    folded = fold_mail(mail)

    assert folded.text == fold(mail.text)
    assert folded.new_text == fold(mail.new_text)
    assert folded.subject_new_text == fold(f"{mail.subject}\n{mail.new_text}")


def test_every_fixture_is_folded_as_its_texts_are_folded_one_by_one() -> None:
    """The fold the rules read is each text's own fold, and the subject then each text's."""
    for path in sorted(FIXTURES.rglob("*.eml")):
        mail = parse(path.read_bytes())

        folded = fold_mail(mail)

        assert folded.subject == fold(mail.subject), path.name
        assert folded.text == fold(mail.text), path.name
        assert folded.new_text == fold(mail.new_text), path.name
        assert folded.subject_text == fold(f"{mail.subject}\n{mail.text}"), path.name
        assert folded.subject_new_text == fold(f"{mail.subject}\n{mail.new_text}"), path.name


def test_classifying_a_message_leaves_it_as_parsed() -> None:
    """Folding keeps nothing on the message: classifying it twice reads the same message."""
    alone = ClassifyContext(mailbox_addresses=frozenset({"foi@example.gov.uk"}))
    on_a_case = replace(alone, thread_case="IC-112010-N1W5")  # looser review wording counts
    for path in sorted(FIXTURES.glob("*.eml")):
        raw = path.read_bytes()
        mail = parse(raw)

        for ctx in (alone, on_a_case):
            first = classify(mail, ctx)
            assert classify(mail, ctx) == first, path.name
            assert vars(mail) == vars(parse(raw)), path.name


@given(st.text() | st.text(st.characters(categories=["Cs", "Ll", "Po", "Zs"])))
@example("caf\u00e9\udc80bar n\u00e9e\u2014done x_y 3\u00bd \udcff")
def test_the_words_of_any_text_are_its_runs_of_word_characters(text: str) -> None:
    """Letters, digits and underscores of every script; any punctuation, space or surrogate."""
    assert words(text) == frozenset(re.findall(r"\w+", text))
