"""References in other systems' formats: the regulator's, another body's, our previous system's.

Our own references are found by `ReferenceCodec.find` (their check suffix is verified). Anyone
else writes references as they please ("Your ref: FOI/2025/0412", "[Ref: 2025-FOI-1187]",
"Case reference IC-402219-B6R1", "FS50912345"), so a reference is only taken from a labelled
place: after "our ref", "your ref", "reference", "ref", "case", "request", "application", or in
brackets in the subject; the ICO's two formats are recognised wherever they stand. They are
reported for a person to match by; they never open or move a case by themselves. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

# The ICO: FS50 case numbers (older casework) and IC-NNNNNN-XXXX (current casework). No
# pattern here opens with a look-behind or a word boundary: `re` then tries every position of
# the text instead of skipping to the first letter; `_starts_word` checks what comes before.
# Both read upper-cased text: a case-blind pattern could not skip ahead to its first letter.
ICO_FS: Final = re.compile(r"FS\s?5\d{7}(?![0-9])")
ICO_IC: Final = re.compile(r"IC-\d{4,7}-[A-Z0-9]{4}(?![A-Z0-9])")
# A label opens with one of these words ("our ref", "your reference", "case no.", "request");
# the pattern starts with them so that `re` can skip ahead to each (it reads lower-cased text).
_LABELLED: Final = re.compile(
    r"(?:ref(?:erence)?\b\.?(?:\s*(?:no|number)\b\.?)?|case(?:\s*(?:no|number)\b\.?)?"
    r"|request|application|claim)\s*(?:[:#.]|\bis\b)?\s*"
    # A reference: an optional short alphabetic head ("foi 2025/331"), then letters, digits
    # and the separators references use; `add` wants three digits (dates and ordinals don't).
    r"((?:[a-z]{2,5}\s)?[a-z0-9][a-z0-9/_.\-]*[0-9][a-z0-9/_\-]*)"
)
_BRACKETED: Final = re.compile(r"\[\s*(?:ref(?:erence)?\s*[:.]?\s*)?([^\]\s][^\]]{2,40})\]",
                               re.IGNORECASE)
# Labelled references stand near the top of what the sender wrote ("Our ref: ..." under the
# letterhead); reading no further keeps a long message cheap.
READ_CHARS: Final = 3000


@dataclass(frozen=True)
class OtherRef:
    """A reference another system wrote, and where it was found."""

    text: str
    where: str


def _starts_word(text: str, start: int) -> bool:
    """True when no letter or digit comes just before `start`."""
    return start == 0 or not text[start - 1].isalnum()


def regulator_references(text: str) -> list[str]:
    """The ICO's case references (FS50..., IC-...-XXXX) in a text, as written."""
    upper = text.upper()
    if len(upper) != len(text):
        return []  # positions would not line up; the regulator writes plain ASCII references
    found = []
    for pattern in (ICO_FS, ICO_IC):
        found += [text[m.start():m.end()] for m in pattern.finditer(upper)
                  if _starts_word(upper, m.start())]
    return found


def _digits(token: str) -> int:
    return sum(ch.isdigit() for ch in token)


def _clean(token: str) -> str:
    return token.strip().rstrip(".-/_")


def other_references(subject: str, text: str, ours: set[str]) -> list[OtherRef]:
    """References of other systems in the subject and text, the regulator's first.

    `ours` holds texts already recognised as our own references (valid or not) and is left
    out, except that an ICO `IC-` reference whose suffix is not ours is kept.
    """
    found: dict[str, OtherRef] = {}

    def add(token: str, where: str) -> None:
        token = _clean(token)
        key = re.sub(r"[^A-Z0-9]", "", token.upper())
        if len(token) < 4 or _digits(token) < 3 or key in found or token.upper() in ours:
            return
        found[key] = OtherRef(token, where)

    for source in (subject, text[:READ_CHARS]):
        for reference in regulator_references(source):
            add(reference.replace(" ", ""), "the regulator's case reference")
    for match in _BRACKETED.finditer(subject):
        add(match.group(1), "a bracketed reference in the subject")
    for source in (subject, text[:READ_CHARS]):
        lowered = source.lower()
        if len(lowered) != len(source):
            continue  # positions would not line up (a rare letter that lower-cases to two)
        for match in _LABELLED.finditer(lowered):
            if not _starts_word(lowered, match.start()):
                continue
            label = match.group(0)[: match.start(1) - match.start()].strip()
            add(source[match.start(1):match.end(1)], f"after '{label}'")
    return list(found.values())
