"""Working-day calendars for the statutory clock (pure).

`statutory.due_date` counts on a `WorkingDays` built for the law in play: FOIA and the EIRs
exclude bank holidays in any part of the UK, FOISA only Scotland's, and a subject access
request rolls forward over one configurable region's public holidays (FOIA s.10(6), FOISA
s.73, UK GDPR Art 12A; see docs/statutory-clock.md). The dates come from the `holidays`
package, year by year as they are needed, plus any proclaimed holidays the installed release
does not know yet.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from functools import lru_cache
from typing import Final

import holidays

from foi_mailbot.deadlines.laws import Law, Step
from foi_mailbot.errors import ConfigError

PARTS: Final = ("ENG", "WLS", "SCT", "NIR")
"""The parts of the UK, as `holidays` GB subdivision codes, in the order they are named."""

PART_NAMES: Final[Mapping[str, str]] = {
    "ENG": "England",
    "WLS": "Wales",
    "SCT": "Scotland",
    "NIR": "Northern Ireland",
}

UK_WIDE: Final = frozenset(PARTS)
CHRISTMAS_DAY: Final = "Christmas Day"
GOOD_FRIDAY: Final = "Good Friday"
FINGERPRINT_FIRST_YEAR: Final = 2019

ExtraHoliday = tuple[date, str, frozenset[str]]
"""A proclaimed holiday the package may not know: (date, name, parts of the UK)."""

# name -> parts of the UK where the day is a holiday under that name
_DayNames = Mapping[str, frozenset[str]]


@lru_cache(maxsize=512)
def _package_year(part: str, year: int) -> tuple[tuple[date, tuple[str, ...]], ...]:
    """The weekday holidays the `holidays` package lists for one part of the UK and one year.

    Weekend entries are dropped on purpose: the package also lists the original date of a
    holiday that falls at a weekend (26 Dec 2020, 1 Jan 2022), and a weekend is never a
    working day anyway (docs/statutory-clock.md, "Bank holidays"). The package's Scotland list
    for 2026 includes Mon 15 Jun ("Scotland's participation in the FIFA World Cup final"), for
    which we found no proclamation; we follow the package, and an `extra` entry or a newer
    release is how a correction arrives.
    """
    table = holidays.country_holidays("GB", subdiv=part, years=year)
    return tuple(
        (day, tuple(name.split("; "))) for day, name in sorted(table.items()) if day.weekday() < 5
    )


def easter_sunday(year: int) -> date:
    """Easter Sunday in the Gregorian calendar (the anonymous Gregorian algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return date(year, month, day + 1)


def describe_parts(parts: Iterable[str]) -> str:
    """Name parts of the UK in prose: "Northern Ireland", "England, Wales and Scotland"."""
    names = [PART_NAMES[p] for p in PARTS if p in set(parts)]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _day_month(day: date) -> str:
    return f"{day.day} {day:%B}"


class WorkingDays:
    """A working-day calendar: weekdays that are not holidays in the chosen parts of the UK.

    Holidays are looked up lazily and cached per year, so any year the `holidays` package
    covers works. Instances are immutable in behaviour and safe to share.
    """

    def __init__(
        self,
        parts: Iterable[str],
        *,
        christmas_day: bool = True,
        good_friday: bool = False,
        extra: Sequence[ExtraHoliday] = (),
    ) -> None:
        self._parts = frozenset(parts)
        unknown = sorted((self._parts | {p for _, _, ps in extra for p in ps}) - UK_WIDE)
        if unknown or not self._parts:
            msg = f"unknown or missing part of the UK {unknown}; expected some of {list(PARTS)}"
            raise ConfigError(msg)
        self._christmas_day = christmas_day
        self._good_friday = good_friday
        self._extra = tuple((d, n, frozenset(ps)) for d, n, ps in extra)
        self._years: dict[int, Mapping[date, _DayNames]] = {}
        self._fingerprints: dict[int, str] = {}  # by last year: stored with every deadline

    @classmethod
    def for_law(
        cls,
        law: Law,
        *,
        extra: Sequence[ExtraHoliday] = (),
        sar_region: str = "ENG",
    ) -> WorkingDays:
        """The calendar a law counts on (FOIA s.10(6), FOISA s.73)."""
        if law is Law.SAR:
            # "Public holiday" is undefined for Art 12A; the controller's region is a choice.
            return cls((sar_region,), christmas_day=False, extra=extra)
        if law in (Law.FOISA, Law.REVIEW_FOISA, Law.EISR, Law.REVIEW_EISR):
            # FOISA s.73 (and EISR reg 2(1), which borrows it): Christmas Day and bank
            # holidays in Scotland only.
            return cls(("SCT",), christmas_day=True, extra=extra)
        # FOIA s.10(6), applied to the EIRs by reg 2(1) and to reviews by the s.45 Code.
        return cls(PARTS, christmas_day=True, good_friday=True, extra=extra)

    @property
    def parts(self) -> frozenset[str]:
        """The parts of the UK whose holidays this calendar excludes."""
        return self._parts

    def is_working_day(self, day: date) -> bool:
        """True for a weekday that is not a holiday in this calendar."""
        return day.weekday() < 5 and day not in self._year(day.year)

    def why_not_working(self, day: date) -> str | None:
        """Why a day is not a working day ("Saturday", "Christmas Day"), or None if it is one."""
        if day.weekday() >= 5:
            return f"{day:%A}"
        names = self._year(day.year).get(day)
        if names is None:
            return None
        return "; ".join(
            name if parts >= UK_WIDE else f"{name} ({describe_parts(parts)})"
            for name, parts in names.items()
        )

    def holiday_note(self, day: date) -> str | None:
        """A one-line reason for a weekday holiday, fit for an acknowledgement, else None.

        For example "12 July is a bank holiday in Northern Ireland".
        """
        names = self._year(day.year).get(day)
        if names is None:
            return None
        if len(names) == 1:
            ((name, parts),) = names.items()
            if name in (CHRISTMAS_DAY, GOOD_FRIDAY) and parts >= UK_WIDE:
                return f"{_day_month(day)} is {name}"
        everywhere = frozenset().union(*names.values())
        if everywhere >= UK_WIDE:
            return f"{_day_month(day)} is a bank holiday throughout the UK: {'; '.join(names)}"
        return f"{_day_month(day)} is a bank holiday in {describe_parts(everywhere)}"

    def next_working_day(self, day: date) -> date:
        """`day` itself if it is a working day, otherwise the first working day after it."""
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def add_working_days(self, start: date, n: int) -> tuple[date, list[Step]]:
        """The n-th working day strictly after `start`, with a Step for each day skipped.

        Weekends give one step each (dated the first weekend day passed); weekday holidays
        give one step each with their reason. `n` == 0 returns `start` and no steps.
        """
        if n < 0:
            msg = f"cannot add a negative number of working days ({n})"
            raise ValueError(msg)
        day, counted, steps = start, 0, []
        weekend: list[date] = []
        while counted < n:
            day += timedelta(days=1)
            if day.weekday() >= 5:
                weekend.append(day)
                continue
            if weekend:
                steps.append(_weekend_step(weekend))
                weekend = []
            reason = self.why_not_working(day)
            if reason is None:
                counted += 1
            else:
                steps.append(Step(day, f"not counted: {reason}"))
        return day, steps

    def working_days_between(self, a: date, b: date) -> int:
        """Working days strictly after `a` up to and including `b`; negative if b < a."""
        if b < a:
            return -self.working_days_between(b, a)
        return sum(
            1 for offset in range(1, (b - a).days + 1) if self.is_working_day(a + timedelta(offset))
        )

    def holidays_between(self, a: date, b: date) -> list[date]:
        """Weekday holidays strictly after `a` up to and including `b`, in order."""
        found: list[date] = []
        for year in range(a.year, b.year + 1):
            found += sorted(d for d in self._year(year) if a < d <= b)
        return found

    def fingerprint(self, *, today: date | None = None) -> str:
        """A stable hash of this calendar's holidays from 2019 to two years after `today`.

        Store it beside computed deadlines: when it changes (a new release of `holidays`, a
        proclaimed day added to settings), open deadlines should be recomputed. `today`
        defaults to the system date; pass the clock's date where it matters.
        """
        last = (today or date.today()).year + 2
        known = self._fingerprints.get(last)
        if known is not None:
            return known
        digest = hashlib.sha256(",".join(sorted(self.parts)).encode())
        for year in range(FINGERPRINT_FIRST_YEAR, last + 1):
            for day in sorted(self._year(year)):
                digest.update(day.isoformat().encode())
        found = self._fingerprints[last] = digest.hexdigest()[:16]
        return found

    def _year(self, year: int) -> Mapping[date, _DayNames]:
        table = self._years.get(year)
        if table is None:
            table = self._years[year] = self._build_year(year)
        return table

    def _build_year(self, year: int) -> Mapping[date, _DayNames]:
        """Every weekday holiday of `year` in this calendar, with its names and parts."""
        found: dict[date, dict[str, frozenset[str]]] = {}

        def add(day: date, name: str, parts: frozenset[str]) -> None:
            if day.weekday() < 5:
                names = found.setdefault(day, {})
                names[name] = names.get(name, frozenset()) | parts

        for part in PARTS:
            for day, names in _package_year(part, year):
                for name in names:
                    add(day, name, frozenset({part}))
        for day, name, parts in self._extra:
            if day.year == year:
                add(day, name, parts)
        if self._christmas_day:
            add(date(year, 12, 25), CHRISTMAS_DAY, UK_WIDE)
        if self._good_friday:
            add(easter_sunday(year) - timedelta(days=2), GOOD_FRIDAY, UK_WIDE)
        return {
            day: relevant
            for day, names in found.items()
            if (relevant := {n: ps for n, ps in names.items() if ps & self._parts})
        }


def _weekend_step(days: list[date]) -> Step:
    """One step for a run of weekend days passed while counting."""
    label = " and ".join(f"{d:%A}" for d in days)
    return Step(days[0], f"not counted: weekend ({label})")
