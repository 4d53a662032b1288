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

# The ICO: FS50 case numbers (older casework) and IC-NNNNNN-XXXX (current casework).
ICO_FS: Final = re.compile(r"(?<![A-Za-z0-9])FS\s?5\d{7}(?![0-9])", re.IGNORECASE)
ICO_IC: Final = re.compile(r"(?<![A-Za-z0-9])IC-\d{4,7}-[A-Z0-9]{4}(?![A-Za-z0-9])",
                           re.IGNORECASE)
_LABEL: Final = (
    r"(?:our|your|my|the|case|file|request|application)?\s*(?:ref(?:erence)?\b\.?"
    r"(?:\s*(?:no|number)\b\.?)?|case(?:\s*(?:no|number)\b\.?)?|request|application|claim)"
)
# A token: an optional short alphabetic head ("FOI 2025/331"), then letters, digits and the
# separators references use; it must hold three digits somewhere (dates and ordinals don't).
_REF_SHAPE: Final = r"((?:[A-Z]{2,5}\s)?[A-Z0-9][A-Z0-9/_.\-]*[0-9][A-Z0-9/_\-]*)"
_LABELLED: Final = re.compile(rf"\b{_LABEL}\s*(?:[:#.]|\bis\b)?\s*{_REF_SHAPE}", re.IGNORECASE)
_BRACKETED: Final = re.compile(r"\[\s*(?:ref(?:erence)?\s*[:.]?\s*)?([^\]\s][^\]]{2,40})\]",
                               re.IGNORECASE)


@dataclass(frozen=True)
class OtherRef:
    """A reference another system wrote, and where it was found."""

    text: str
    where: str


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

    for source in (subject, text):
        for match in ICO_FS.finditer(source):
            add(match.group(0).replace(" ", ""), "the regulator's case number")
        for match in ICO_IC.finditer(source):
            add(match.group(0), "the regulator's case reference")
    for match in _BRACKETED.finditer(subject):
        add(match.group(1), "a bracketed reference in the subject")
    for source in (subject, text):
        for match in _LABELLED.finditer(source):
            label = match.group(0)[: match.start(1) - match.start()].strip()
            add(match.group(1), f"after '{label}'")
    return list(found.values())
