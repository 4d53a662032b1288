"""References: minting, check suffixes, and finding them in free text."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from foi_mailbot.cases.reference import LETTERS, ReferenceCodec

CODEC = ReferenceCodec("IC", "test-secret")


def test_reference_has_prefix_six_digit_number_and_letter_digit_suffix() -> None:
    """A reference reads IC-NNNNNN-XDXD."""
    ref = CODEC.format(112010)

    assert re.fullmatch(r"IC-112010-[A-Z][0-9][A-Z][0-9]", ref)


def test_number_grows_wider_than_six_digits() -> None:
    """Past 999999 the number is simply longer, never truncated."""
    assert CODEC.format(1234567).startswith("IC-1234567-")


def test_suffix_never_uses_confusable_letters() -> None:
    """I, L and O are never used: they are misread as 1 and 0."""
    letters = {CODEC.suffix(n)[i] for n in range(1, 3000) for i in (0, 2)}

    assert not letters & set("ILO")
    assert letters <= set(LETTERS)


def test_suffix_depends_on_the_secret() -> None:
    """Another organisation's secret gives other suffixes, so references can't be guessed."""
    other = ReferenceCodec("IC", "another-secret")

    assert sum(CODEC.suffix(n) != other.suffix(n) for n in range(1, 200)) > 190


def test_finds_reference_written_loosely() -> None:
    """Lower case, spaces and en dashes are all recognised as the same reference."""
    ref = CODEC.format(112010)
    number, suffix = ref.split("-")[1], ref.split("-")[2]
    text = f"re: ic {number} {suffix.lower()} and again IC\u2013{number}\u2013{suffix}"

    found = CODEC.find(text)

    assert [(f.reference, f.valid) for f in found] == [(ref, True)]


def test_mistyped_suffix_is_found_but_not_valid() -> None:
    """A wrong check suffix is reported as mistyped, never matched."""
    ref = CODEC.format(42)
    wrong = ref[:-1] + str((int(ref[-1]) + 1) % 10)

    found = CODEC.find(f"Your reference {wrong} please")

    assert [(f.reference, f.valid) for f in found] == [(wrong, False)]
    assert CODEC.number_of(wrong) is None


def test_reference_inside_a_word_is_not_found() -> None:
    """Letters glued to the front mean it is something else."""
    assert CODEC.find("PIC-000042-A1B2") == []


@given(st.integers(min_value=1, max_value=10**9))
def test_every_minted_reference_is_found_valid(number: int) -> None:
    """Whatever the number, the reference we mint is recognised as valid."""
    ref = CODEC.format(number)

    assert CODEC.number_of(ref) == number


def test_a_reference_is_found_as_written_beside_letters_that_change_when_upper_cased() -> None:
    """A sharp s or a ligature earlier in the text: still found, quoted as it was written."""
    ref = CODEC.format(42)
    written = ref.lower().replace("-", " ")

    found = CODEC.find(f"Straße, ﬁle: {written}; also x{ref}")

    assert [(f.text, f.reference, f.valid) for f in found] == [(written, ref, True)]


@given(st.text(alphabet="ab1 -ßİı\u2013IC", max_size=40))
def test_finding_references_agrees_with_the_plain_reading_of_any_text(noise: str) -> None:
    """The quick path over upper-cased text finds exactly what a case-blind reading finds."""
    ref = CODEC.format(7)
    text = f"{noise} {ref.lower()} {noise}"
    pattern = re.compile(r"(?<![A-Za-z0-9])IC[\s\-\u2010-\u2015\u2212_]{0,3}(\d{1,12})"
                         r"[\s\-\u2010-\u2015\u2212_]{0,3}([A-Z][0-9][A-Z][0-9])(?![A-Za-z0-9])",
                         re.IGNORECASE)
    expected = list(dict.fromkeys(
        f"IC-{int(m.group(1)):06d}-{m.group(2).upper()}" for m in pattern.finditer(text)
        if int(m.group(1)) >= 1
    ))

    assert [f.reference for f in CODEC.find(text)] == expected
