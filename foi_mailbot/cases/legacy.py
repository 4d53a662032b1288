"""References of a case system used before this one: found in mail like our own (pure).

An authority moving over brings open cases whose references have another shape
(`FOI-1181-1617`, `F-2011-01675`, `2009/0017527`). Each configured pattern is a regular
expression; a match in mail is looked up among the cases imported with that reference, so a
reply quoting it finds its case, and a stranger quoting it is flagged as for our own references.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from foi_mailbot.cases.reference import ReferenceCodec
from foi_mailbot.classify.base import FoundRef

_WORD = re.compile(r"[A-Za-z0-9]")


def pattern_problem(pattern: str) -> str | None:
    """Why a configured pattern cannot be used, or None."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        return f"is not a regular expression ({exc})"
    if compiled.match(""):
        return "matches empty text"
    return None


def canonical(reference: str) -> str:
    """How a legacy reference is stored and compared: trimmed, upper-cased."""
    return " ".join(reference.split()).upper()


def compile_patterns(patterns: Mapping[str, str]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """The configured patterns compiled, case-blind, in a stable order."""
    return tuple((name, re.compile(patterns[name], re.IGNORECASE)) for name in sorted(patterns))


def find_legacy(
    text: str, patterns: tuple[tuple[str, re.Pattern[str]], ...]
) -> list[FoundRef]:
    """Every legacy reference in `text`, in order of appearance, each once."""
    hits: list[tuple[int, FoundRef]] = []
    seen: set[str] = set()
    for _name, pattern in patterns:
        for match in pattern.finditer(text):
            start, end = match.span()
            # Inside a longer word or number, it is something else (a phone number, an id).
            if (start and _WORD.match(text, start - 1)) or _WORD.match(text, end):
                continue
            reference = canonical(match.group(0))
            if reference in seen:
                continue
            seen.add(reference)
            hits.append((start, FoundRef(text=match.group(0), reference=reference, valid=True)))
    return [found for _start, found in sorted(hits, key=lambda hit: hit[0])]


@dataclass(frozen=True)
class LegacyAwareCodec(ReferenceCodec):
    """Our own references first, then those of the old case system."""

    legacy: tuple[tuple[str, re.Pattern[str]], ...] = field(default=())

    def find(self, text: str) -> list[FoundRef]:
        """See `ReferenceCodec.find`; legacy references follow ours (ours win when both)."""
        own = super().find(text)
        return own + find_legacy(text, self.legacy) if self.legacy else own
