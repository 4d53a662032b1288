"""Benchmark: the weekly digest and the management-information report on 100,000 cases.

Builds a SQLite register in a temporary directory, inserts synthetic cases in bulk (SQLAlchemy
Core, 10,000 rows per statement), then times `build_digest`, `render_digest`, `build_report`
with its CSV, and the reminder plan, printing the figures each produced.

    .venv/bin/python bench/bench_digest.py [--cases 100000] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import insert
from sqlalchemy.orm import Session

from foi_mailbot.cases.register import Calendars
from foi_mailbot.clock_policy import clock_policy
from foi_mailbot.deadlines.laws import Law
from foi_mailbot.jobs.digest import build_digest, render_digest
from foi_mailbot.jobs.reminders import plan
from foi_mailbot.jobs.report import build_report, to_csv
from foi_mailbot.outbound.render import make_environment
from foi_mailbot.settings import Settings
from foi_mailbot.storage.db import make_engine, make_session_factory, session_scope, upgrade
from foi_mailbot.storage.models import AuditEntry, Case, CaseEvent, InboundMessage, ServiceState

NOW = datetime(2026, 3, 9, 9, 30, tzinfo=UTC)  # a Monday morning, after the digest time
TODAY = NOW.date()
FIRST = date(2023, 4, 1)
CHUNK = 10_000
OUTCOMES = ("information_provided", "partly_provided", "refused", "not_held",
            "neither_confirm_nor_deny")
T = TypeVar("T")


def timed(label: str, func: Callable[[], T]) -> T:
    """Run `func`, print how long it took, return its result."""
    start = time.perf_counter()
    result = func()
    print(f"{label:<34} {time.perf_counter() - start:8.3f} s")
    return result


def synthetic_cases(n: int, rng: random.Random, fingerprint: dict[str, str]) -> Iterator[dict[str, Any]]:
    """`n` cases received from April 2023 to today; the last ~6 weeks' are mostly still open."""
    span = (TODAY - FIRST).days
    for number in range(1, n + 1):
        received = FIRST + timedelta(days=span * (number - 1) // n)
        is_review = number > 100 and rng.random() < 0.06
        law = (Law.REVIEW_FOIA if is_review else
               rng.choices([Law.FOIA, Law.EIR, Law.SAR], [85, 12, 3])[0])
        due = received + timedelta(days=28)
        age = (TODAY - received).days
        done = age > 45 or rng.random() < age / 60
        taken = max(1, min(60, round(rng.gauss(14, 5)))) if done else None
        completed = min(TODAY, received + timedelta(days=taken * 7 // 5)) if taken else None
        status = ("responded" if done else
                  rng.choices(["acknowledged", "awaiting_clarification", "extended",
                               "on_hold_fees"], [80, 10, 8, 2])[0])
        at = datetime(received.year, received.month, received.day, 10, tzinfo=UTC)
        yield {
            "id": number, "number": number, "reference": f"IC-{number:06d}-BNCH",
            "law": law.value, "is_review": is_review,
            "original_case_id": rng.randint(1, number - 1) if is_review else None,
            "applicant_name": "", "applicant_email": f"applicant{number % 5000}@example.org",
            "subject": "Synthetic request", "status": status, "channel": "email",
            "received_at": at, "received_on": received,
            "due_on": None if status == "awaiting_clarification" else due,
            "deadline": None, "calendar_fingerprint": fingerprint[law.value],
            "completed_on": completed, "outcome": rng.choice(OUTCOMES) if done else None,
            "sections": None, "on_time": (taken <= 20) if taken else None,
            "working_days_taken": taken, "opened_by": None, "created_at": at, "updated_at": at,
        }


def insert_all(session: Session, model: Any, rows: Iterator[dict[str, Any]]) -> int:
    """Insert rows in chunks with one executemany each; returns how many."""
    total, batch = 0, []
    for row in rows:
        batch.append(row)
        if len(batch) == CHUNK:
            session.execute(insert(model.__table__), batch)
            total, batch = total + len(batch), []
    if batch:
        session.execute(insert(model.__table__), batch)
        total += len(batch)
    return total


def extras(session: Session, n: int, rng: random.Random) -> None:
    """Clarification events, flagged messages, calendar moves and the last sync."""
    awaiting = [cid for (cid,) in session.execute(
        Case.__table__.select().with_only_columns(Case.id)
        .where(Case.status == "awaiting_clarification"))]
    insert_all(session, CaseEvent, iter([
        {"case_id": cid, "kind": "clarification_sought", "clock_event": "clarification_sought",
         "on": TODAY - timedelta(days=rng.randint(1, 40)), "created_at": NOW}
        for cid in awaiting]))
    insert_all(session, InboundMessage, iter([
        {"mailbox": "foi@example.gov.uk", "folder": "INBOX", "direction": "inbound",
         "arrived_at": NOW - timedelta(hours=i), "stored_at": NOW, "content_hash": f"h{i}",
         "size": 1000, "status": "applied", "attempts": 1, "needs_person": True,
         "from_email": "someone@example.org", "attention_reason": "not an FOI request"}
        for i in range(60)]))
    insert_all(session, AuditEntry, iter([
        {"at": NOW - timedelta(days=2), "case_id": n - i, "action": "deadline.changed",
         "cause": "calendar changed", "detail": {"before": "2026-03-20", "after": "2026-03-23"}}
        for i in range(5)]))
    session.add(ServiceState(key="last_sync", value={"at": NOW.isoformat()}, updated_at=NOW))


def main() -> None:
    """Build the register, then time the digest and the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(paths={"data_dir": tmp},  # type: ignore[arg-type]
                            database={"url": f"sqlite:///{Path(tmp) / 'bench.db'}"})
        engine = make_engine(settings.database.resolved_url(settings.paths))
        upgrade(engine)
        factory = make_session_factory(engine)
        calendars = Calendars(clock_policy(settings))
        fingerprint = {law.value: calendars.for_law(law).fingerprint() for law in Law}
        with session_scope(factory) as session:
            inserted = timed(f"insert {args.cases:,} cases (Core)",
                             lambda: insert_all(session, Case,
                                                synthetic_cases(args.cases, rng, fingerprint)))
            extras(session, inserted, rng)
        env = make_environment(None)
        with session_scope(factory) as session:
            digest = timed("build_digest", lambda: build_digest(session, settings, calendars, NOW))
            text, html = timed("render_digest (text + HTML)", lambda: render_digest(env, digest))
            report = timed("build_report (all cases)", lambda: build_report(
                session, calendars, start=None, end=None, today=TODAY))
            csv_text = timed("report as CSV", lambda: to_csv(report))
            due = timed("reminder plan", lambda: plan(session, settings, calendars, NOW))
        engine.dispose()
    c = digest.compliance
    print()
    print(f"digest {digest.week}: received {digest.activity.received}, answered "
          f"{digest.activity.answered}, open {digest.open_total}, overdue {digest.overdue.total}, "
          f"due soon {digest.due_soon.total}, awaiting clarification "
          f"{digest.awaiting_clarification.total}, reviews open {digest.reviews.total}, "
          f"needing a person {digest.needs_person_total}, calendar moves "
          f"{len(digest.calendar_moves)}")
    print(f"FY {c.label} to date: {c.on_time:,} of {c.answered:,} on time ({c.share_text}), "
          f"median {c.median_working_days} working days")
    print(f"text {len(text):,} chars, HTML {len(html):,} chars; report {len(report.rows):,} rows, "
          f"CSV {len(csv_text):,} chars; {len(due):,} reminders due")
    for year in report.compliance:
        print(f"  {year.label}: {year.on_time:,} of {year.answered:,} ({year.share_text}), "
              f"median {year.median_working_days}")


if __name__ == "__main__":
    main()
