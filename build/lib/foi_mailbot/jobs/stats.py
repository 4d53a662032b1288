"""Shared figures for the weekly digest and the management-information report.

Both `jobs.digest` and `jobs.report` read timeliness through these functions only, so the
digest's financial-year figures and `foi-mailbot report` cannot disagree. Each function is a few
SQL aggregates or a single query over plain columns; none walks relationships case by case,
because the register may hold a hundred thousand cases.

Definitions (documented here once):

* The financial year runs 1 April to 31 March and is named by the year it starts in
  (FY 2025 is "2025/26"). Quarter 1 is April to June. Financial week 1 is the seven days from
  1 April, week 2 the next seven, and so on (week 53 holds the last day or two).
* The compliance figure counts requests answered in the period under the laws with a statutory
  working-day limit (FOIA, the EIRs, FOISA), by date of completion, as the ICO monitors
  timeliness against its 90% benchmark. Internal reviews (a Code of Practice limit, not a
  statutory one), subject access (a calendar-month limit) and requests closed without a
  response (withdrawn, no clarification) are left out.
"""

from __future__ import annotations

import statistics
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from foi_mailbot.deadlines.laws import Law
from foi_mailbot.deadlines.workdays import WorkingDays
from foi_mailbot.storage.models import Case

ICO_BENCHMARK: Final = 0.9
"""The ICO expects at least 90% of requests answered within the statutory time."""

COMPLIANCE_LAWS: Final = (Law.FOIA, Law.EIR, Law.FOISA)

LEGISLATION: Final[Mapping[str, str]] = {
    Law.FOIA.value: "FOIA",
    Law.EIR.value: "EIR",
    Law.FOISA.value: "FOISA",
    Law.SAR.value: "UK GDPR SAR",
    Law.REVIEW_FOIA.value: "FOIA review",
    Law.REVIEW_EIR.value: "EIR review",
    Law.REVIEW_FOISA.value: "FOISA review",
}

_FY_START_MONTH: Final = 4


def legislation(law: str) -> str:
    """The short name of a case's law, as the digest and the report print it."""
    return LEGISLATION.get(law, law.upper())


def financial_year(day: date) -> int:
    """The financial year a day falls in, named by the calendar year it starts in."""
    return day.year if day.month >= _FY_START_MONTH else day.year - 1


def fy_label(fy: int) -> str:
    """A financial year as people write it, e.g. 2025 -> "2025/26"."""
    return f"{fy}/{(fy + 1) % 100:02d}"


def fy_bounds(fy: int) -> tuple[date, date]:
    """The first and last day of a financial year."""
    return date(fy, _FY_START_MONTH, 1), date(fy + 1, _FY_START_MONTH, 1) - timedelta(days=1)


def fy_quarter(day: date) -> int:
    """The financial quarter of a day: 1 for April to June, 4 for January to March."""
    return (day.month - _FY_START_MONTH) % 12 // 3 + 1


def fy_week(day: date) -> int:
    """The financial week of a day: week 1 is the seven days from 1 April."""
    start, _ = fy_bounds(financial_year(day))
    return (day - start).days // 7 + 1


def percent(share: float | None) -> str:
    """A share as a percentage with one decimal place, or "n/a" when there is nothing to share."""
    return "n/a" if share is None else f"{share * 100:.1f}%"


def median(values: Iterable[int]) -> float | None:
    """The median of some counts, or None when there are none."""
    data = list(values)
    return float(statistics.median(data)) if data else None


@dataclass(frozen=True)
class Compliance:
    """Requests answered in a financial year (to `end`), how many on time, and the median time."""

    fy: int
    start: date
    end: date
    answered: int
    on_time: int
    median_working_days: float | None
    benchmark: float = ICO_BENCHMARK

    @property
    def label(self) -> str:
        """The financial year as people write it."""
        return fy_label(self.fy)

    @property
    def late(self) -> int:
        """Requests answered after their due date."""
        return self.answered - self.on_time

    @property
    def share(self) -> float | None:
        """The share answered on time, or None when nothing was answered."""
        return self.on_time / self.answered if self.answered else None

    @property
    def share_text(self) -> str:
        """The on-time share as a percentage."""
        return percent(self.share)

    @property
    def meets_benchmark(self) -> bool | None:
        """True when the share reaches the ICO benchmark; None when nothing was answered."""
        share = self.share
        return None if share is None else share >= self.benchmark

    def as_dict(self) -> dict[str, object]:
        """Plain values for JSON."""
        return {
            "financial_year": self.label,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "answered": self.answered,
            "on_time": self.on_time,
            "late": self.late,
            "share_on_time": None if self.share is None else round(self.share, 4),
            "benchmark": self.benchmark,
            "meets_benchmark": self.meets_benchmark,
            "median_working_days": self.median_working_days,
        }


def _counted() -> list[ColumnElement[bool]]:
    """The filter every timeliness figure shares (see the module docstring)."""
    return [
        Case.law.in_([law.value for law in COMPLIANCE_LAWS]),
        Case.on_time.is_not(None),
        Case.completed_on.is_not(None),
    ]


def _on_time_sum() -> ColumnElement[int]:
    return func.sum(case((Case.on_time.is_(True), 1), else_=0))


def compliance(session: Session, fy: int, *, until: date | None = None) -> Compliance:
    """Timeliness of requests answered in financial year `fy`, up to `until` if given."""
    start, end = fy_bounds(fy)
    if until is not None and until < end:
        end = max(until, start - timedelta(days=1))
    where = [*_counted(), Case.completed_on >= start, Case.completed_on <= end]
    answered, on_time = session.execute(
        select(func.count(Case.id), _on_time_sum()).where(*where)
    ).one()
    days = session.scalars(
        select(Case.working_days_taken).where(*where, Case.working_days_taken.is_not(None))
    ).all()
    return Compliance(
        fy=fy,
        start=start,
        end=end,
        answered=int(answered or 0),
        on_time=int(on_time or 0),
        median_working_days=median(d for d in days if d is not None),
    )


def financial_years_between(first: date, last: date) -> list[int]:
    """Every financial year that overlaps the days from `first` to `last`."""
    return list(range(financial_year(first), financial_year(last) + 1))


@dataclass(frozen=True)
class WeekVolume:
    """One week of the digest's chart: requests received, answered, and answered on time."""

    start: date
    received: int
    answered: int
    on_time: int

    @property
    def end(self) -> date:
        """The last day of the week."""
        return self.start + timedelta(days=6)

    @property
    def label(self) -> str:
        """The week as a short label, e.g. "30 Mar"."""
        return f"{self.start.day} {self.start:%b}"

    @property
    def share(self) -> float | None:
        """The share of the week's answers given on time."""
        return self.on_time / self.answered if self.answered else None

    @property
    def share_text(self) -> str:
        """The on-time share as a whole percentage, or "n/a"."""
        share = self.share
        return "n/a" if share is None else f"{round(share * 100)}%"


def weekly_volumes(session: Session, last_day: date, weeks: int = 12) -> list[WeekVolume]:
    """Seven-day blocks ending on `last_day`, oldest first: received, answered, on time."""
    first = last_day - timedelta(days=7 * weeks - 1)
    received_by_day = dict(
        session.execute(
            select(Case.received_on, func.count(Case.id))
            .where(Case.received_on >= first, Case.received_on <= last_day)
            .group_by(Case.received_on)
        ).tuples()
    )
    answered_by_day: dict[date, tuple[int, int]] = {}
    rows = session.execute(
        select(Case.completed_on, func.count(Case.id), _on_time_sum())
        .where(*_counted(), Case.completed_on >= first, Case.completed_on <= last_day)
        .group_by(Case.completed_on)
    ).tuples()
    for day, answered, on_time in rows:
        if day is not None:
            answered_by_day[day] = (int(answered), int(on_time or 0))
    out = []
    for index in range(weeks):
        start = first + timedelta(days=7 * index)
        days = [start + timedelta(days=offset) for offset in range(7)]
        out.append(
            WeekVolume(
                start=start,
                received=sum(int(received_by_day.get(d, 0)) for d in days),
                answered=sum(answered_by_day.get(d, (0, 0))[0] for d in days),
                on_time=sum(answered_by_day.get(d, (0, 0))[1] for d in days),
            )
        )
    return out


class WorkdayIndex:
    """Cumulative working-day counts over a span of dates, so each count is one lookup.

    `WorkingDays.working_days_between` walks day by day; the digest and the report count for
    thousands of cases, so they build one index per calendar and ask it instead. Dates outside
    the span fall back to the calendar itself.
    """

    def __init__(self, calendar: WorkingDays, first: date, last: date) -> None:
        self._calendar = calendar
        self._first, self._last = first, last
        self._cumulative: list[int] = []
        total = 0
        for offset in range((last - first).days + 1):
            total += calendar.is_working_day(first + timedelta(days=offset))
            self._cumulative.append(total)
        self._working = [
            first + timedelta(days=i)
            for i in range(len(self._cumulative))
            if calendar.is_working_day(first + timedelta(days=i))
        ]

    def _covers(self, *days: date) -> bool:
        return all(self._first <= d <= self._last for d in days)

    def between(self, a: date, b: date) -> int:
        """Working days strictly after `a` up to and including `b` (negative if b < a)."""
        if not self._covers(a, b):
            return self._calendar.working_days_between(a, b)
        return (
            self._cumulative[(b - self._first).days] - self._cumulative[(a - self._first).days]
        )

    def add(self, start: date, n: int) -> date:
        """The n-th working day strictly after `start`."""
        if n > 0 and self._covers(start):
            position = bisect_right(self._working, start) + n - 1
            if 0 <= position < len(self._working):
                return self._working[position]
        return self._calendar.add_working_days(start, n)[0]
