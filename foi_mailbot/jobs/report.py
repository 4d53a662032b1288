"""Management information: one row per case, and the compliance figure by financial year.

`foi-mailbot report` prints this as CSV, JSON or text. The fields are those public bodies report
on (the ICO's own case MI lists status, legislation, case reference, date received by financial
year, quarter, month and financial week, date completed, decision, request channel and previous
case reference), plus the working days taken and whether the answer was on time. Cases are
chosen by date of receipt; the compliance figure is for whole financial years (cut at `--to`),
computed by `jobs.stats.compliance` exactly as the weekly digest computes it. Rows come from one
query over plain columns, so a register of a hundred thousand cases reports in seconds.
"""

from __future__ import annotations

import csv
import io
import json
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from operator import attrgetter
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from foi_mailbot.cases.lifecycle import State, is_open
from foi_mailbot.cases.register import Calendars
from foi_mailbot.deadlines.laws import Law
from foi_mailbot.deadlines.workdays import WorkingDays
from foi_mailbot.errors import UsageError
from foi_mailbot.jobs.stats import (
    Compliance,
    compliance,
    financial_year,
    financial_years_between,
    fy_bounds,
    fy_label,
    fy_quarter,
    fy_week,
    legislation,
)
from foi_mailbot.storage.models import Case

FORMATS: Final = ("csv", "json", "text")

HEADINGS: Final = {
    "status": "Status",
    "legislation": "Legislation",
    "reference": "Case reference",
    "received": "Date received",
    "received_fy": "Received FY",
    "received_quarter": "Received quarter",
    "received_month": "Received month",
    "received_fin_week": "Received financial week",
    "completed": "Date completed",
    "completed_fy": "Completed FY",
    "decision": "Decision",
    "channel": "Request channel",
    "previous_reference": "Previous case reference",
    "working_days": "Working days taken",
    "timeliness": "On time or late",
}
COMPLIANCE_HEADINGS: Final = (
    "Financial year", "From", "To", "Answered", "On time", "Late", "Share on time",
    "ICO benchmark", "Median working days",
)


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One case as management information reports it.

    `working_days` is the working days taken to complete, or so far while the case is open;
    `timeliness` is "on time", "late", "open", "overdue" or "closed" (ended without an answer).
    """

    status: str
    legislation: str
    reference: str
    received: date
    received_fy: str
    received_quarter: str
    received_month: str
    received_fin_week: int
    completed: date | None
    completed_fy: str
    decision: str
    channel: str
    previous_reference: str
    working_days: int | None
    timeliness: str


@dataclass(frozen=True)
class Report:
    """The cases received from `start` to `end` and the compliance figure of each year spanned."""

    start: date | None
    end: date | None
    rows: list[ReportRow]
    compliance: list[Compliance]


class WorkdayIndex:
    """Cumulative working-day counts over a span of dates, so each count is one lookup.

    `WorkingDays.working_days_between` walks day by day; the report counts for every case, so
    it builds one index per calendar. Dates outside the span fall back to the calendar.
    """

    def __init__(self, calendar: WorkingDays, first: date, last: date) -> None:
        self._calendar = calendar
        self._first, self._last = first, last
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        self._working = [d for d in days if calendar.is_working_day(d)]

    def between(self, a: date, b: date) -> int:
        """Working days strictly after `a` up to and including `b` (negative if b < a)."""
        if not (self._first <= a <= self._last and self._first <= b <= self._last):
            return self._calendar.working_days_between(a, b)
        return bisect_right(self._working, b) - bisect_right(self._working, a)


def resolve_range(
    fy: int | None, start: date | None, end: date | None
) -> tuple[date | None, date | None]:
    """The days a report covers, from `--fy` or `--from`/`--to`; UsageError if they conflict."""
    if fy is not None:
        if start is not None or end is not None:
            msg = "give either --fy or --from/--to, not both"
            raise UsageError(msg)
        if not 1990 <= fy <= 2200:
            msg = f"--fy {fy} is not a financial year such as 2025 (for 2025/26)"
            raise UsageError(msg)
        return fy_bounds(fy)
    if start is not None and end is not None and start > end:
        msg = f"--from {start.isoformat()} is after --to {end.isoformat()}"
        raise UsageError(msg)
    return start, end


def _timeliness(status: str, completed: date | None, on_time: bool | None,
                due: date | None, today: date) -> str:
    if completed is not None and on_time is not None:
        return "on time" if on_time else "late"
    if _is_open(status):
        return "overdue" if due is not None and due < today else "open"
    return "closed"


def _indexes(calendars: Calendars, first: date, last: date) -> dict[str, WorkdayIndex]:
    return {law.value: WorkdayIndex(calendars.for_law(law), first, last) for law in Law}


def report_rows(
    session: Session, calendars: Calendars, *, start: date | None, end: date | None, today: date
) -> list[ReportRow]:
    """One row per case received from `start` to `end` (either may be open), oldest first."""
    original = aliased(Case)
    where = [
        *([Case.received_on >= start] if start else []),
        *([Case.received_on <= end] if end else []),
    ]
    stmt = (
        select(Case.status, Case.law, Case.reference, Case.received_on, Case.completed_on,
               Case.outcome, Case.channel, original.reference, Case.working_days_taken,
               Case.on_time, Case.due_on)
        .outerjoin(original, Case.original_case_id == original.id)
        .where(*where)
        .order_by(Case.received_on, Case.id)
    )
    first, last = session.execute(
        select(func.min(Case.received_on), func.max(Case.completed_on)).where(*where)
    ).one()
    indexes = _indexes(calendars, first or today, max(today, last or today))
    # Plain column rows need no ORM identity handling; the Core connection skips it.
    return [_row(values, indexes, today) for values in session.connection().execute(stmt)]


@lru_cache(maxsize=4096)
def _day_parts(day: date) -> tuple[str, str, str, int]:
    """A day's financial year, quarter, month and financial week (many cases share a day)."""
    return fy_label(financial_year(day)), f"Q{fy_quarter(day)}", f"{day:%Y-%m}", fy_week(day)


@lru_cache(maxsize=64)
def _is_open(status: str) -> bool:
    return is_open(State(status))


def _row(values: tuple[Any, ...], indexes: dict[str, WorkdayIndex], today: date) -> ReportRow:
    status, law, ref, received, completed, outcome, channel, previous, taken, on_time, due = values
    if taken is None and (completed is not None or _is_open(status)):
        taken = indexes[law].between(received, completed or today)
    fy, quarter, month, week = _day_parts(received)
    return ReportRow(
        status=status.replace("_", " "),
        legislation=legislation(law),
        reference=ref,
        received=received,
        received_fy=fy,
        received_quarter=quarter,
        received_month=month,
        received_fin_week=week,
        completed=completed,
        completed_fy=_day_parts(completed)[0] if completed else "",
        decision=(outcome or "").replace("_", " "),
        channel=channel,
        previous_reference=previous or "",
        working_days=taken,
        timeliness=_timeliness(status, completed, on_time, due, today),
    )


def build_report(
    session: Session, calendars: Calendars, *, start: date | None, end: date | None, today: date
) -> Report:
    """The report's rows, and the compliance figure of every financial year they span."""
    rows = report_rows(session, calendars, start=start, end=end, today=today)
    first = start or (rows[0].received if rows else today)
    last = end or today
    years = financial_years_between(first, last) if first <= last else []
    until = end if end is not None and end < today else today
    return Report(
        start=start,
        end=end,
        rows=rows,
        compliance=[compliance(session, fy, until=until) for fy in years],
    )


def _plain(value: object) -> object:
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else value


def to_csv(report: Report) -> str:
    """The cases as CSV, then a blank line and the compliance figures as a second table."""
    return cases_csv(report) + "\n" + compliance_csv(report)


def _json_value(value: object) -> object:
    return value.isoformat() if isinstance(value, date) else value


def to_json(report: Report) -> str:
    """The report as one JSON document."""
    values = attrgetter(*HEADINGS)
    return json.dumps({
        "from": _plain(report.start) or None,
        "to": _plain(report.end) or None,
        "cases": [dict(zip(HEADINGS, map(_json_value, values(row)), strict=True))
                  for row in report.rows],
        "compliance": [c.as_dict() for c in report.compliance],
    }, indent=2)


def to_text(report: Report) -> str:
    """The report for a terminal: a compact table of cases, then the compliance figures."""
    span = f"{_plain(report.start) or 'the first case'} to {_plain(report.end) or 'today'}"
    lines = [f"Cases received from {span}: {len(report.rows)}", ""]
    if report.rows:
        lines.append(_text_row("Reference", "Law", "Status", "Received", "Completed",
                               "Working days", "Timing", "Decision"))
    for r in report.rows:
        lines.append(_text_row(
            r.reference, r.legislation, r.status, r.received.isoformat(),
            str(_plain(r.completed) or "-"), str(_plain(r.working_days) or "-"), r.timeliness,
            r.decision,
        ))
    lines += ["", "Answered within the statutory time (FOIA, EIR, FOISA), by financial year:"]
    lines += [_compliance_line(c) for c in report.compliance] or ["  (no financial years)"]
    return "\n".join(lines) + "\n"


def _text_row(reference: str, law: str, status: str, received: str, completed: str,
              days: str, timing: str, decision: str) -> str:
    """One line of the text table; the headings use the same widths as the rows."""
    return (f"{reference:<16} {law:<12} {status:<22} {received:<10}  {completed:<10}  "
            f"{days:>12}  {timing:<8} {decision}").rstrip()


def cases_csv(report: Report) -> str:
    """The cases as one CSV table: a heading row, then one row per case."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADINGS.values())
    values = attrgetter(*HEADINGS)
    writer.writerows([_plain(v) for v in values(row)] for row in report.rows)
    return out.getvalue()


def compliance_csv(report: Report) -> str:
    """The yearly compliance figures as one CSV table."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COMPLIANCE_HEADINGS)
    for c in report.compliance:
        writer.writerow([c.label, c.start.isoformat(), c.end.isoformat(), c.answered, c.on_time,
                         c.late, c.share_text, f"{c.benchmark:.0%}",
                         "" if c.median_working_days is None else c.median_working_days])
    return out.getvalue()


def _compliance_line(c: Compliance) -> str:
    median = "-" if c.median_working_days is None else f"{c.median_working_days:g}"
    verdict = {True: "meets", False: "is below", None: "nothing answered to compare with"}[
        c.meets_benchmark
    ]
    benchmark = f"the ICO's {c.benchmark:.0%} benchmark"
    return (f"  {c.label} (to {c.end.isoformat()}): {c.on_time} of {c.answered} on time, "
            f"{c.share_text}; {verdict}{'' if c.meets_benchmark is None else ' ' + benchmark}; "
            f"median {median} working days")


def render(report: Report, fmt: str) -> str:
    """The report in one of FORMATS."""
    renderers = {"csv": to_csv, "json": to_json, "text": to_text}
    if fmt not in renderers:
        msg = f"--format must be one of {', '.join(FORMATS)}, not '{fmt}'"
        raise UsageError(msg)
    return renderers[fmt](report)

