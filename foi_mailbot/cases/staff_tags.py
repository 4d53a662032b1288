"""Subject tags staff put on their mail to say what it does (pure): "[extend 2026-01-15]",
"[respond: refused]", "[review-outcome: partly]". Which action each tag name means is decided
by `cases.staff_actions`; this module finds the tag and reads its argument."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Final, TypeVar

from foi_mailbot.cases.staff_outcomes import Outcome, ReviewOutcome
from foi_mailbot.cases.staff_text import fold

_TAG = re.compile(r"\[([^\[\]]{1,60})\]")
_TAG_HEAD = re.compile(r"(?P<name>[a-z]+(?:[-_ ]outcome)?)(?![a-z])\s*:?\s*(?P<arg>.*)", re.S)
OUTCOME_ARGS: Final[Mapping[str, Outcome]] = {
    "provided": Outcome.INFORMATION_PROVIDED, "full": Outcome.INFORMATION_PROVIDED,
    "disclosed": Outcome.INFORMATION_PROVIDED, "partly": Outcome.PARTLY_PROVIDED,
    "partial": Outcome.PARTLY_PROVIDED, "partlyprovided": Outcome.PARTLY_PROVIDED,
    "refused": Outcome.REFUSED, "refusal": Outcome.REFUSED, "notheld": Outcome.NOT_HELD,
    "ncnd": Outcome.NEITHER_CONFIRM_NOR_DENY, "withdrawn": Outcome.WITHDRAWN,
}
REVIEW_ARGS: Final[Mapping[str, ReviewOutcome]] = {
    "upheld": ReviewOutcome.UPHELD, "uphold": ReviewOutcome.UPHELD,
    "overturned": ReviewOutcome.OVERTURNED, "overturn": ReviewOutcome.OVERTURNED,
    "partly": ReviewOutcome.PARTLY, "partial": ReviewOutcome.PARTLY,
    "partlyupheld": ReviewOutcome.PARTLY, "partiallyupheld": ReviewOutcome.PARTLY,
}
# "[extend 20]", "[extend 20 working days]": a length in working days.
TAG_DAYS = re.compile(r"(?P<n>\d{1,2}) ?(?:wd|working days?|days?)?")
_T = TypeVar("_T")


@dataclass(frozen=True)
class Tag:
    """A known tag: its name ("review-outcome"), the text as written, and its argument."""

    name: str
    text: str
    arg: str


def find_tag(subject: str, names: Collection[str]) -> Tag | None:
    """The first tag in `subject` whose name is one of `names`; other bracketed words
    ([EXTERNAL], [OFFICIAL]) are skipped."""
    for m in _TAG.finditer(subject):
        head = _TAG_HEAD.fullmatch(fold(m.group(1)).strip())
        if head is None:
            continue
        name = re.sub(r"[_ ]", "-", head.group("name"))
        if name in names:
            return Tag(name, m.group(0), head.group("arg").strip())
    return None


def tag_choice(arg: str, choices: Mapping[str, _T], reasons: list[str]) -> _T | None:
    """The value a tag argument names ('not held' and 'not-held' alike), else None."""
    if not arg:
        return None
    chosen = choices.get(re.sub(r"[^a-z]", "", arg))
    reasons.append(f'"{arg}" from the tag' if chosen else f'tag argument "{arg}" not understood')
    return chosen
