"""Loading the register of a case system used before this one (`import-register FILE.csv`).

Columns: reference, requester_email, requester_name, subject, received (YYYY-MM-DD), law,
status, due (YYYY-MM-DD, may be empty). The register's due date is kept as given (its basis
"imported"); only where it is empty is it computed from the date of receipt. A reference
already in the register is left as it is, so importing the same file twice changes nothing.
Every bad row is named with its line and why; the good rows go in one transaction or not at
all. Imported cases keep their old references, which mail is matched on through
`[organisation] legacy_reference_patterns` (see `cases.legacy`).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from foi_mailbot.cases.legacy import canonical
from foi_mailbot.cases.lifecycle import State
from foi_mailbot.cases.register import Calendars, add_event, audit, refresh_deadline
from foi_mailbot.deadlines.laws import Law
from foi_mailbot.storage.models import Case

COLUMNS: Final = ("reference", "requester_email", "requester_name", "subject", "received",
                  "law", "status", "due")
IMPORTED: Final = "imported"
"""The deadline basis (and calendar fingerprint) of a due date taken from the old register."""
_STATUS_ALIASES: Final = {"open": State.ACKNOWLEDGED, "in progress": State.ACKNOWLEDGED,
                          "new": State.REQUESTED}


@dataclass(frozen=True)
class Row:
    """One good row of the register."""

    line: int
    reference: str
    email: str
    name: str
    subject: str
    received: date
    law: Law
    status: State
    due: date | None


@dataclass(frozen=True)
class Loaded:
    """What an import did: cases added, references already there, and the bad rows."""

    added: list[str]
    already: list[str]
    bad: list[tuple[int, str]]


def read_register(path: Path) -> tuple[list[Row], list[tuple[int, str]]]:
    """The good rows and (line, why) for each bad one; the header is line 1."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            return [], [(1, "the header lacks " + ", ".join(missing))]
        return _rows((reader.line_num, record) for record in reader)


def _rows(records: Iterable[tuple[int, dict[str, str | None]]]) -> tuple[
        list[Row], list[tuple[int, str]]]:
    good: list[Row] = []
    bad: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for line, record in records:
        try:
            row = parse_row(line, record)
        except ValueError as exc:
            bad.append((line, str(exc)))
            continue
        if row.reference in seen:
            first = seen[row.reference]
            bad.append((line, f"the reference {row.reference} is on line {first} too"))
            continue
        seen[row.reference] = line
        good.append(row)
    return good, bad


def parse_row(line: int, record: dict[str, str | None]) -> Row:
    """One register row checked; raises ValueError saying what is wrong."""
    if None in record or any(record.get(c) is None for c in COLUMNS):
        fields = len([v for v in record.values() if v is not None])
        msg = f"it has {fields} fields, not {len(COLUMNS)}"
        raise ValueError(msg)
    value = {c: (record[c] or "").strip() for c in COLUMNS}
    if not value["reference"]:
        raise ValueError("the reference is empty")
    if len(value["reference"]) > 40:
        raise ValueError("the reference is longer than 40 characters")
    email = value["requester_email"].lower()
    if "@" not in email or any(c in email for c in " <>,;"):
        msg = f"the requester address '{value['requester_email']}' is not an email address"
        raise ValueError(msg)
    return Row(line, canonical(value["reference"]), email, value["requester_name"],
               value["subject"], _date(value["received"], "received"), _law(value["law"]),
               _status(value["status"]),
               _date(value["due"], "due") if value["due"] else None)


def _date(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        msg = f"the {what} date '{text}' is not a date in the form YYYY-MM-DD"
        raise ValueError(msg) from None


def _law(text: str) -> Law:
    try:
        return Law(text.lower())
    except ValueError:
        msg = f"the law '{text}' is not one of {', '.join(law.value for law in Law)}"
        raise ValueError(msg) from None


def _status(text: str) -> State:
    key = text.lower().replace("-", " ").strip()
    if key in _STATUS_ALIASES:
        return _STATUS_ALIASES[key]
    try:
        return State(key.replace(" ", "_"))
    except ValueError:
        msg = f"the status '{text}' is not one of open, {', '.join(s.value for s in State)}"
        raise ValueError(msg) from None


def load(session: Session, rows: list[Row], calendars: Calendars, now: datetime) -> Loaded:
    """Add the rows not yet in the register, in the caller's transaction."""
    wanted = [row.reference for row in rows]
    known = set(session.scalars(select(Case.reference).where(Case.reference.in_(wanted))))
    # Imported cases take numbers below ours (never minted as our references).
    number = min(0, session.scalar(select(func.min(Case.number))) or 0)
    added: list[str] = []
    for row in rows:
        if row.reference in known:
            continue
        number -= 1
        _add(session, row, number, calendars, now)
        added.append(row.reference)
    return Loaded(added, sorted(known), [])


def _add(session: Session, row: Row, number: int, calendars: Calendars, now: datetime) -> None:
    case = Case(number=number, reference=row.reference, law=row.law.value,
                is_review=row.law.is_review, applicant_name=row.name, applicant_email=row.email,
                subject=row.subject, status=row.status.value, channel=IMPORTED,
                received_at=datetime.combine(row.received, time(12), UTC),
                received_on=row.received, created_at=now, updated_at=now, events=[])
    session.add(case)
    add_event(session, case, kind="imported", on=row.received, now=now,
              reasons=[f"imported from the old register, line {row.line}"],
              status_after=row.status.value)
    if row.due is None:
        refresh_deadline(session, case, calendars, now=now, cause="imported without a due date")
    else:
        case.due_on = row.due
        case.calendar_fingerprint = IMPORTED
        case.deadline = {"law": row.law.value, "due": row.due.isoformat(), "basis": IMPORTED,
                         "start": row.received.isoformat(), "steps": [], "holiday_notes": [],
                         "stopped_reason": None,
                         "explanation": [f"Due {row.due.isoformat()}: as given in the "
                                         "register of the case system used before."]}
    audit(session, at=now, action="case.imported", cause=f"register line {row.line}", case=case,
          detail={"reference": row.reference, "due": case.due_on.isoformat()
                  if case.due_on else None})
