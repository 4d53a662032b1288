"""Dates and lengths staff write, in UK style (pure): a new due date stated in a letter
("by 14 January", "until 14/01/2027", "2027-01-14") and the length of an extension ("a
further 20 working days"), for `cases.staff_actions`."""

from __future__ import annotations

import re
from datetime import date
from typing import Final

_NUM_WORD = r"(?:\d{1,2}|ten|fifteen|twenty|thirty|forty|sixty)"
_MONTHS: Final = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_MONTH = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
DATE = re.compile(
    r"(?<![0-9])(?:(?P<d1>\d{1,2})(?:st|nd|rd|th)? (?:of )?"
    rf"(?P<m1>{_MONTH})\.?(?:,? (?P<y1>\d{{4}}))?"
    r"|(?P<d2>\d{1,2})[/.](?P<m2>\d{1,2})[/.](?P<y2>\d{4}|\d{2})"
    r"|(?P<y3>\d{4})-(?P<m3>\d{2})-(?P<d3>\d{2}))(?![0-9a-z])"
)
_DUE_CUE = re.compile(
    r"(?:\bby|\bbefore|\buntil|\bthan|\bto|\bdeadline(?: is)?|\bdate(?: is)?|\bdue(?: on)?)"
    r" (?:the )?(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day,? )?(?:the )?$"
)
_NUMBERS: Final = {"ten": 10, "fifteen": 15, "twenty": 20, "thirty": 30, "forty": 40, "sixty": 60}
_FURTHER_DAYS = re.compile(rf"(?:further|additional|extra|another) (?P<n>{_NUM_WORD}) working days")
_EXTEND_TO = re.compile(rf"extend\w*[^.]{{0,40}}? to (?P<n>{_NUM_WORD}) working days")
_EXTEND_BY = re.compile(rf"extend\w*[^.]{{0,40}}? by (?P<n>{_NUM_WORD}) working days")


def as_date(m: re.Match[str], today: date) -> date | None:
    """The date a `DATE` match names; a date without a year is its next occurrence."""
    d, mo, y = (m.group("d1"), m.group("m1"), m.group("y1"))
    if d is None:
        d, mo, y = (m.group("d2"), m.group("m2"), m.group("y2"))
        if d is None:
            d, mo, y = (m.group("d3"), m.group("m3"), m.group("y3"))
    month = _MONTHS[mo[:3]] if mo.isalpha() else int(mo)
    year = int(y) + 2000 if y and len(y) == 2 else int(y) if y else today.year
    try:
        found = date(year, month, int(d))
    except ValueError:
        return None
    if y is None and found < today:
        found = found.replace(year=today.year + 1)
    return found


def stated_due(text: str, today: date) -> tuple[date, str] | None:
    """A future due date stated in `text`, and the words that gave it.

    The first date introduced by 'by', 'until', 'no later than'... wins; failing that, the
    only future date with a year. Dates before `today` are ignored.
    """
    cued: list[tuple[date, str]] = []
    plain: list[tuple[date, str]] = []
    for m in DATE.finditer(text):
        found = as_date(m, today)
        has_year = bool(m.group("y1") or m.group("y2") or m.group("y3"))
        if found is None or found < today:
            continue
        before = text[max(0, m.start() - 40) : m.start()]
        if _DUE_CUE.search(before):
            cued.append((found, m.group(0)))
        elif has_year:
            plain.append((found, m.group(0)))
    if cued:
        return cued[0]
    return plain[0] if len(plain) == 1 else None


def _number(word: str) -> int:
    return int(word) if word.isdigit() else _NUMBERS[word]


def stated_extension_days(text: str) -> tuple[int, str] | None:
    """A stated extension length in working days ('a further 20 working days')."""
    for pattern, over in ((_FURTHER_DAYS, 0), (_EXTEND_BY, 0), (_EXTEND_TO, 20)):
        m = pattern.search(text)
        if m and _number(m.group("n")) > over:
            return _number(m.group("n")) - over, m.group(0)
    return None
