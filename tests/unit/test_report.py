"""Management information: the fields public bodies report on, and the same figures as the digest."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select
from typer.testing import CliRunner

import foi_mailbot.cli.schedule  # noqa: F401 - registers `remind`, `digest` and `report`
from foi_mailbot.cli.common import app as cli
from foi_mailbot.clock import FixedClock
from foi_mailbot.jobs.digest import build_digest
from foi_mailbot.jobs.report import Report, ReportRow, build_report, to_csv, to_text
from foi_mailbot.jobs.stats import financial_year, fy_label, fy_quarter, fy_week
from foi_mailbot.settings import Settings
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import Case
from tests.unit.test_digest import (
    TODAY,
    Apps,
    Register,
    answer,
    at,
    seed_register,
    write_config,
)


@pytest.fixture
def apps(settings: Settings, clock: FixedClock) -> Iterator[Apps]:
    """A factory of applications sharing the test database, clock and transport."""
    factory = Apps(settings, clock)
    yield factory
    for app in factory.built:
        app.close()


@pytest.mark.parametrize(
    ("day", "fy", "quarter", "week"),
    [
        (date(2025, 4, 1), 2025, 1, 1),
        (date(2025, 4, 7), 2025, 1, 1),
        (date(2025, 4, 8), 2025, 1, 2),
        (date(2025, 7, 1), 2025, 2, 14),
        (date(2025, 12, 31), 2025, 3, 40),
        (date(2026, 1, 1), 2025, 4, 40),
        (date(2026, 3, 31), 2025, 4, 53),
        (date(2026, 4, 1), 2026, 1, 1),
    ],
)
def test_financial_year_quarter_and_week_start_on_the_first_of_april(
    day: date, fy: int, quarter: int, week: int
) -> None:
    """The financial year runs 1 April to 31 March; week 1 is the seven days from 1 April."""
    assert (fy, quarter, week) == (financial_year(day), fy_quarter(day), fy_week(day))


def test_financial_years_are_written_the_usual_way() -> None:
    """2025 is 2025/26, and the century turns cleanly."""
    assert ("2025/26", "1999/00") == (fy_label(2025), fy_label(1999))


def _report(apps: Apps, clock: FixedClock, **kwargs: date | None) -> tuple[Report, Register]:
    app = apps()
    seeded = seed_register(app, clock)
    with session_scope(app.factory) as session:
        report = build_report(session, app.services.calendars, start=kwargs.get("start"),
                              end=kwargs.get("end"), today=TODAY)
    return report, seeded


def _row(report: Report, reference: str) -> ReportRow:
    return next(r for r in report.rows if r.reference == reference)


def test_each_case_has_the_fields_public_bodies_report_on(apps: Apps, clock: FixedClock) -> None:
    """An answered request: status, law, dates by year/quarter/month/week, decision, timing."""
    report, seeded = _report(apps, clock)
    row = _row(report, seeded.reviewed)

    assert ReportRow(
        status="under review", legislation="FOIA", reference=seeded.reviewed,
        received=date(2026, 2, 9), received_fy="2025/26", received_quarter="Q4",
        received_month="2026-02", received_fin_week=45, completed=date(2026, 3, 4),
        completed_fy="2025/26", decision="information provided", channel="email",
        previous_reference="", working_days=17, timeliness="on time",
    ) == row


def test_reviews_open_and_closed_cases_say_where_they_stand(
    apps: Apps, clock: FixedClock
) -> None:
    """A review names its original; open cases count working days so far; withdrawn is closed."""
    report, seeded = _report(apps, clock)
    review = _row(report, seeded.review)
    overdue = _row(report, seeded.overdue)

    assert ("FOIA review", seeded.reviewed, "open") == (
        review.legislation, review.previous_reference, review.timeliness)
    assert ("overdue", 45) == (overdue.timeliness, overdue.working_days)
    assert ["closed"] == [r.timeliness for r in report.rows if r.status == "closed"]
    assert 10 == len(report.rows)


def test_a_date_range_selects_cases_by_date_of_receipt(apps: Apps, clock: FixedClock) -> None:
    """--from/--to pick the cases received in between, both days included."""
    report, _ = _report(apps, clock, start=date(2026, 3, 3), end=date(2026, 3, 6))

    assert [date(2026, 3, 3), date(2026, 3, 5), date(2026, 3, 6)] == [
        r.received for r in report.rows]


def test_reviews_are_left_out_of_the_statutory_compliance_figure(
    apps: Apps, clock: FixedClock
) -> None:
    """A late internal review (a Code of Practice limit) does not change the FOIA figure."""
    app = apps()
    seeded = seed_register(app, clock)
    with session_scope(app.factory) as session:
        before = build_report(session, app.services.calendars, start=None, end=None,
                              today=TODAY).compliance
        review_id = session.scalars(
            select(Case.id).where(Case.reference == seeded.review)
        ).one()
    answer(app, review_id, TODAY)
    with session_scope(app.factory) as session:
        after = build_report(session, app.services.calendars, start=None, end=None,
                             today=TODAY).compliance

    assert before == after


def test_the_digest_and_the_report_give_the_same_financial_year_figures(
    apps: Apps, clock: FixedClock, tmp_path: Path, db_url: str
) -> None:
    """`foi-mailbot report --fy` and the digest agree on share on time, counts and median."""
    app = apps()
    seed_register(app, clock)
    with session_scope(app.factory) as session:
        digest = build_digest(session, app.settings, app.services.calendars, at(TODAY, 12))
    with time_machine.travel(at(TODAY, 12), tick=False):
        result = CliRunner().invoke(cli, ["report", "--fy", "2025", "--format", "json",
                                          "--config", str(write_config(tmp_path, db_url))])

    assert 0 == result.exit_code, result.output
    (figures,) = json.loads(result.output)["compliance"]
    c = digest.compliance
    assert (c.label, c.answered, c.on_time, round(c.share or 0, 4), c.median_working_days) == (
        figures["financial_year"], figures["answered"], figures["on_time"],
        figures["share_on_time"], figures["median_working_days"])
    assert 10 == len(json.loads(result.output)["cases"])


def test_csv_has_the_cases_then_the_compliance_table(apps: Apps, clock: FixedClock) -> None:
    """The CSV opens in a spreadsheet: a header row, one row per case, then the yearly figures."""
    report, _ = _report(apps, clock)
    text = to_csv(report)
    cases, compliance = text.split("\n\n")
    rows = list(csv.reader(io.StringIO(cases)))
    yearly = list(csv.reader(io.StringIO(compliance)))

    assert "Case reference" in rows[0] and "On time or late" in rows[0]
    assert 11 == len(rows)
    assert ["2025/26", "2025-04-01", "2026-03-09", "3", "2", "1", "66.7%", "90%", "17.0"] == (
        yearly[1])


def test_text_states_the_share_against_the_benchmark(apps: Apps, clock: FixedClock) -> None:
    """The terminal format says how many were on time and whether the benchmark is met."""
    report, _ = _report(apps, clock)

    assert "2 of 3 on time, 66.7%; is below the ICO's 90% benchmark" in to_text(report)


@pytest.mark.parametrize(
    "args",
    [
        ["--fy", "2025", "--from", "2025-04-01"],
        ["--from", "2026-13-01"],
        ["--from", "2026-03-08", "--to", "2026-03-01"],
        ["--format", "xml"],
        ["--fy", "25"],
    ],
)
def test_report_rejects_bad_input_in_one_sentence(
    args: list[str], tmp_path: Path, db_url: str
) -> None:
    """Conflicting or malformed options exit 2 with one line saying what is wrong."""
    result = CliRunner().invoke(cli, ["report", *args, "--config",
                                      str(write_config(tmp_path, db_url))])

    assert 2 == result.exit_code
    assert 1 == len(result.output.strip().splitlines())
