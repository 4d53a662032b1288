"""The Environmental Information (Scotland) Regulations 2004: their own law on the clock,
counted on Scotland's calendar as FOISA is (EISR reg 2(1) borrows FOISA s.73)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from typer.testing import CliRunner

from foi_mailbot.cli import app
from foi_mailbot.deadlines import due_date
from foi_mailbot.deadlines.laws import Law
from foi_mailbot.deadlines.statutory import calendar_for

runner = CliRunner()


def test_twelfth_of_july_and_easter_monday_are_eisr_working_days() -> None:
    """Northern Ireland's and England's holidays do not stop Scotland's clock."""
    calendar = calendar_for(Law.EISR)

    assert calendar.is_working_day(date(2027, 7, 12))  # Monday; the Twelfth in NI
    assert calendar.is_working_day(date(2026, 4, 6))  # Easter Monday
    assert not calendar_for(Law.EIR).is_working_day(date(2027, 7, 12))


def test_second_of_january_and_the_first_monday_of_august_are_not_eisr_working_days() -> None:
    """Scotland's own bank holidays are not counted."""
    calendar = calendar_for(Law.EISR)

    assert not calendar.is_working_day(date(2026, 1, 2))
    assert not calendar.is_working_day(date(2026, 8, 3))
    assert calendar.is_working_day(date(2026, 8, 31))  # England's summer bank holiday


def test_an_eisr_request_is_due_on_the_twentieth_scottish_working_day() -> None:
    """Received Monday 30 March 2026: Good Friday (3 April) is skipped, Easter Monday counts."""
    result = due_date(date(2026, 3, 30), Law.EISR)

    assert date(2026, 4, 28) == result.due
    assert "EISR reg 5(2)(a)" in result.basis
    assert "FOISA s.73" in result.basis
    assert date(2026, 4, 29) == due_date(date(2026, 3, 30), Law.EIR).due


def test_an_eisr_review_is_twenty_working_days_not_the_english_forty() -> None:
    """EISR reg 16(4) gives 20 working days where EIR reg 11(4) gives 40."""
    result = due_date(date(2026, 3, 30), Law.REVIEW_EISR)

    assert date(2026, 4, 28) == result.due
    assert "EISR reg 16(4)" in result.basis
    assert Law.REVIEW_EISR is Law.EISR.review_law()


def test_deadline_command_gives_scotlands_dates_with_their_sources(tmp_path: Path) -> None:
    """`foi-mailbot deadline --law eisr` names the regulation and skips 3 August 2026."""
    result = runner.invoke(
        app, ["deadline", "--law", "eisr", "--received", "2026-07-20", "--json"],
        env={"FOI_MAILBOT_PATHS__DATA_DIR": str(tmp_path)},
    )

    assert 0 == result.exit_code, result.output
    data = json.loads(result.output)
    assert "2026-08-18" == data["due"]
    assert "EISR reg 5(2)(a)" in data["basis"]
    assert any(step["day"] == "2026-08-03" for step in data["steps"])
