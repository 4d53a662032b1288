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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, Subquery

from foi_mailbot.cases.lifecycle import OPEN_STATES, Event, State
from foi_mailbot.clock import as_utc
from foi_mailbot.deadlines.laws import EventKind, Law
from foi_mailbot.storage.models import Case, CaseEvent, InboundMessage

ICO_BENCHMARK: Final = 0.9
"""The ICO expects at least 90% of requests answered within the statutory time."""

COMPLIANCE_LAWS: Final = (Law.FOIA, Law.EIR, Law.FOISA, Law.EISR)

LEGISLATION: Final[Mapping[str, str]] = {
    Law.FOIA.value: "FOIA",
    Law.EIR.value: "EIR",
    Law.FOISA.value: "FOISA",
    Law.SAR.value: "UK GDPR SAR",
    Law.REVIEW_FOIA.value: "FOIA review",
    Law.REVIEW_EIR.value: "EIR review",
    Law.REVIEW_FOISA.value: "FOISA review",
    Law.EISR.value: "EISR",
    Law.REVIEW_EISR.value: "EISR review",
}

_FY_START_MONTH: Final = 4


def legislation(law: str) -> str:
    """The short name of a case's law, as the digest and the report print it."""
    return LEGISLATION.get(law) or law.upper()


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
    received_by_day = {
        day: int(n)
        for day, n in session.execute(
            select(Case.received_on, func.count(Case.id))
            .where(Case.received_on >= first, Case.received_on <= last_day)
            .group_by(Case.received_on)
        )
    }
    answered_by_day: dict[date, tuple[int, int]] = {}
    rows = session.execute(
        select(Case.completed_on, func.count(Case.id), _on_time_sum())
        .where(*_counted(), Case.completed_on >= first, Case.completed_on <= last_day)
        .group_by(Case.completed_on)
    )
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
                received=sum(received_by_day.get(d, 0) for d in days),
                answered=sum(answered_by_day.get(d, (0, 0))[0] for d in days),
                on_time=sum(answered_by_day.get(d, (0, 0))[1] for d in days),
            )
        )
    return out


@dataclass(frozen=True)
class Activity:
    """What came in and went out between two days (both included)."""

    start: date
    end: date
    received: int
    reviews_received: int
    answered: int
    closed_without_answer: int


def _count(session: Session, *where: ColumnElement[bool]) -> int:
    return int(session.scalar(select(func.count(Case.id)).where(*where)) or 0)


def activity(session: Session, start: date, end: date) -> Activity:
    """Cases received, reviews received, requests answered, and cases closed unanswered."""
    received = (Case.received_on >= start, Case.received_on <= end)
    closed = session.scalar(
        select(func.count(func.distinct(CaseEvent.case_id)))
        .join(Case, Case.id == CaseEvent.case_id)
        .where(
            CaseEvent.kind.in_([Event.CLOSED.value, Event.CLOSED_NO_CLARIFICATION.value]),
            CaseEvent.on >= start,
            CaseEvent.on <= end,
            Case.completed_on.is_(None),
        )
    )
    return Activity(
        start=start,
        end=end,
        received=_count(session, *received),
        reviews_received=_count(session, *received, Case.is_review.is_(True)),
        answered=_count(session, Case.completed_on >= start, Case.completed_on <= end),
        closed_without_answer=int(closed or 0),
    )


@dataclass(frozen=True)
class StateCount:
    """Open cases in one state, and the earliest due date among them."""

    state: str
    count: int
    next_due: date | None


def open_by_state(session: Session) -> tuple[StateCount, ...]:
    """Open cases counted by state, in the lifecycle's order."""
    rows = session.execute(
        select(Case.status, func.count(Case.id), func.min(Case.due_on))
        .where(Case.status.in_([s.value for s in OPEN_STATES]))
        .group_by(Case.status)
    )
    found = {status: (int(n), due) for status, n, due in rows}
    return tuple(StateCount(s.value, *found[s.value]) for s in State if s.value in found)


def clarification_sought() -> Subquery:
    """Per case, the latest day clarification was sought (columns `case_id`, `sought`)."""
    return (
        select(CaseEvent.case_id, func.max(CaseEvent.on).label("sought"))
        .where(CaseEvent.clock_event == EventKind.CLARIFICATION_SOUGHT.value)
        .group_by(CaseEvent.case_id)
        .subquery()
    )


@dataclass(frozen=True)
class Flagged:
    """A stored message that needs a person: when it arrived, from whom, and why."""

    message_pk: int
    arrived: date
    sender: str
    reference: str
    reason: str
    subject: str = ""


_FLAGGED: Final = (InboundMessage.needs_person.is_(True), InboundMessage.resolved_at.is_(None))


def flagged_messages(session: Session, zone: ZoneInfo, limit: int | None = None) -> list[Flagged]:
    """Messages waiting for a person, oldest first."""
    stmt = (
        select(
            InboundMessage.id,
            InboundMessage.arrived_at,
            InboundMessage.from_email,
            InboundMessage.attention_reason,
            Case.reference,
            InboundMessage.subject,
        )
        .outerjoin(Case, InboundMessage.case_id == Case.id)
        .where(*_FLAGGED)
        .order_by(InboundMessage.id)
        .limit(limit)
    )
    return [
        Flagged(pk, as_utc(at).astimezone(zone).date(), sender or "-", ref or "", why or "-",
                subject or "(no subject)")
        for pk, at, sender, why, ref, subject in session.execute(stmt)
    ]


def count_flagged(session: Session) -> int:
    """How many messages wait for a person."""
    return int(session.scalar(select(func.count(InboundMessage.id)).where(*_FLAGGED)) or 0)
