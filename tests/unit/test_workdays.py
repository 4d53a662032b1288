"""Working-day calendars: which days count for FOIA, FOISA and subject access (s.10(6), s.73)."""

from __future__ import annotations

from datetime import date, timedelta

import holidays
import pytest

from foi_mailbot.deadlines.laws import Law, Step
from foi_mailbot.deadlines.workdays import WorkingDays, easter_sunday
from foi_mailbot.errors import ConfigError

FOIA = WorkingDays.for_law(Law.FOIA)
FOISA = WorkingDays.for_law(Law.FOISA)
SAR_ENG = WorkingDays.for_law(Law.SAR)

# The hand-built lists of weekday bank holidays: (E&W, Scotland, NI additions).
# Scotland 15 Jun 2026 is left out here: the package lists it and we follow the package
# (see test_scotland_15_june_2026_follows_the_package).
RULES_TABLE = {
    2019: (
        "01-01 04-19 04-22 05-06 05-27 08-26 12-25 12-26",
        "01-01 01-02 04-19 05-06 05-27 08-05 12-02 12-25 12-26",
        "03-18 07-12",
    ),
    2020: (
        "01-01 04-10 04-13 05-08 05-25 08-31 12-25 12-28",
        "01-01 01-02 04-10 05-08 05-25 08-03 11-30 12-25 12-28",
        "03-17 07-13",
    ),
    2021: (
        "01-01 04-02 04-05 05-03 05-31 08-30 12-27 12-28",
        "01-01 01-04 04-02 05-03 05-31 08-02 11-30 12-27 12-28",
        "03-17 07-12",
    ),
    2022: (
        "01-03 04-15 04-18 05-02 06-02 06-03 08-29 09-19 12-26 12-27",
        "01-03 01-04 04-15 05-02 06-02 06-03 08-01 09-19 11-30 12-26 12-27",
        "03-17 07-12",
    ),
    2023: (
        "01-02 04-07 04-10 05-01 05-08 05-29 08-28 12-25 12-26",
        "01-02 01-03 04-07 05-01 05-08 05-29 08-07 11-30 12-25 12-26",
        "03-17 07-12",
    ),
    2024: (
        "01-01 03-29 04-01 05-06 05-27 08-26 12-25 12-26",
        "01-01 01-02 03-29 05-06 05-27 08-05 12-02 12-25 12-26",
        "03-18 07-12",
    ),
    2025: (
        "01-01 04-18 04-21 05-05 05-26 08-25 12-25 12-26",
        "01-01 01-02 04-18 05-05 05-26 08-04 12-01 12-25 12-26",
        "03-17 07-14",
    ),
    2026: (
        "01-01 04-03 04-06 05-04 05-25 08-31 12-25 12-28",
        "01-01 01-02 04-03 05-04 05-25 08-03 11-30 12-25 12-28",
        "03-17 07-13",
    ),
    2027: (
        "01-01 03-26 03-29 05-03 05-31 08-30 12-27 12-28",
        "01-01 01-04 03-26 05-03 05-31 08-02 11-30 12-27 12-28",
        "03-17 07-12",
    ),
}
UNSOURCED = {date(2026, 6, 15)}


def _dates(year: int, days: str) -> set[date]:
    return {date(year, int(md[:2]), int(md[3:])) for md in days.split()}


def _non_working_weekdays(calendar: WorkingDays, year: int) -> set[date]:
    first = date(year, 1, 1)
    days = (first + timedelta(n) for n in range((date(year + 1, 1, 1) - first).days))
    return {d for d in days if d.weekday() < 5 and not calendar.is_working_day(d)}


@pytest.mark.parametrize("year", sorted(RULES_TABLE))
def test_foia_excludes_bank_holidays_in_every_part_of_the_uk(year: int) -> None:
    """FOIA's non-working weekdays are the union of the E&W, Scotland and NI lists."""
    ew, sct, ni = (_dates(year, days) for days in RULES_TABLE[year])

    assert ew | sct | ni == _non_working_weekdays(FOIA, year) - UNSOURCED


@pytest.mark.parametrize("year", sorted(RULES_TABLE))
def test_foisa_excludes_only_scottish_bank_holidays(year: int) -> None:
    """FOISA's non-working weekdays are exactly Scotland's list (which has Christmas Day)."""
    sct = _dates(year, RULES_TABLE[year][1])

    assert sct == _non_working_weekdays(FOISA, year) - UNSOURCED


@pytest.mark.parametrize("year", sorted(RULES_TABLE))
def test_subject_access_rolls_over_english_holidays_by_default(year: int) -> None:
    """The default subject access calendar is England and Wales."""
    ew = _dates(year, RULES_TABLE[year][0])

    assert ew == _non_working_weekdays(SAR_ENG, year)


def test_scotland_15_june_2026_follows_the_package() -> None:
    """Mon 15 Jun 2026 is a holiday for FOISA and FOIA exactly when the package says so."""
    listed = date(2026, 6, 15) in holidays.country_holidays("GB", subdiv="SCT", years=2026)

    assert listed is not FOISA.is_working_day(date(2026, 6, 15))
    assert listed is not FOIA.is_working_day(date(2026, 6, 15))


@pytest.mark.parametrize(
    ("day", "reason"),
    [
        (date(2021, 6, 12), "Saturday"),
        (date(2021, 6, 13), "Sunday"),
        (date(2023, 12, 25), "Christmas Day"),
        (date(2021, 4, 2), "Good Friday"),
        (date(2021, 7, 12), "Battle of the Boyne (Northern Ireland)"),
        (date(2020, 7, 13), "Battle of the Boyne (observed) (Northern Ireland)"),
        (date(2021, 8, 2), "Summer Bank Holiday (Scotland)"),
        (date(2021, 4, 5), "Easter Monday (England, Wales and Northern Ireland)"),
        (date(2022, 9, 19), "State Funeral of Queen Elizabeth II"),
        (date(2020, 12, 26), "Saturday"),
        (date(2021, 6, 14), None),
    ],
)
def test_foia_names_why_a_day_does_not_count(day: date, reason: str | None) -> None:
    """Reasons name the holiday and, for a regional one, the parts of the UK it belongs to."""
    assert reason == FOIA.why_not_working(day)


@pytest.mark.parametrize(
    "day",
    [date(2021, 4, 5), date(2021, 7, 12), date(2021, 3, 17), date(2024, 8, 26)],
)
def test_foisa_counts_days_that_are_holidays_only_outside_scotland(day: date) -> None:
    """Easter Monday, 12 July, 17 March and the English August holiday are FOISA working days."""
    assert FOISA.is_working_day(day)
    assert not FOIA.is_working_day(day)


@pytest.mark.parametrize(
    "day",
    [date(2020, 5, 8), date(2022, 6, 2), date(2022, 6, 3), date(2022, 9, 19), date(2023, 5, 8)],
)
def test_one_off_holidays_2020_to_2023_are_not_working_days(day: date) -> None:
    """VE Day, the Jubilee days, the State Funeral and the Coronation count nowhere."""
    assert not FOIA.is_working_day(day)
    assert not FOISA.is_working_day(day)
    assert not SAR_ENG.is_working_day(day)


def test_early_may_2020_was_moved_so_4_may_is_a_working_day() -> None:
    """The early May holiday moved to Friday 8 May 2020, so Monday 4 May was worked."""
    assert FOIA.is_working_day(date(2020, 5, 4))


def test_holiday_note_names_the_part_of_the_uk() -> None:
    """Regional days read as a sentence for acknowledgements."""
    assert "12 July is a bank holiday in Northern Ireland" == FOIA.holiday_note(date(2021, 7, 12))
    assert "2 August is a bank holiday in Scotland" == FOIA.holiday_note(date(2021, 8, 2))
    assert "25 December is Christmas Day" == FOIA.holiday_note(date(2023, 12, 25))
    assert FOIA.holiday_note(date(2021, 6, 14)) is None


def test_holiday_note_for_a_uk_wide_day_names_the_holiday() -> None:
    """A day that is a bank holiday everywhere says which holiday it is."""
    expected = (
        "19 September is a bank holiday throughout the UK: State Funeral of Queen Elizabeth II"
    )

    assert expected == FOIA.holiday_note(date(2022, 9, 19))


def test_add_working_days_skips_easter_with_a_step_for_each_gap() -> None:
    """From Thu 1 Apr 2021, two working days land on Wed 7 Apr past Good Friday and Easter."""
    due, steps = FOIA.add_working_days(date(2021, 4, 1), 2)

    assert date(2021, 4, 7) == due
    assert [
        Step(date(2021, 4, 2), "not counted: Good Friday"),
        Step(date(2021, 4, 3), "not counted: weekend (Saturday and Sunday)"),
        Step(date(2021, 4, 5), "not counted: Easter Monday (England, Wales and Northern Ireland)"),
    ] == steps


def test_add_working_days_from_a_saturday_starts_on_monday() -> None:
    """The start day never counts: one working day after a Saturday is the Monday."""
    due, steps = FOIA.add_working_days(date(2021, 6, 12), 1)

    assert date(2021, 6, 14) == due
    assert [Step(date(2021, 6, 13), "not counted: weekend (Sunday)")] == steps


def test_add_zero_working_days_returns_the_start() -> None:
    """Adding nothing is the identity, even on a non-working day."""
    assert (date(2021, 6, 12), []) == FOIA.add_working_days(date(2021, 6, 12), 0)


def test_add_negative_working_days_is_refused() -> None:
    """Counting backwards is not supported."""
    with pytest.raises(ValueError, match="negative"):
        FOIA.add_working_days(date(2021, 6, 12), -1)


def test_working_days_between_excludes_the_start_and_includes_the_end() -> None:
    """The count runs strictly after the first date up to and including the second."""
    assert 20 == FOIA.working_days_between(date(2021, 6, 13), date(2021, 7, 9))
    assert 0 == FOIA.working_days_between(date(2021, 6, 14), date(2021, 6, 14))
    assert 1 == FOIA.working_days_between(date(2021, 6, 11), date(2021, 6, 14))


def test_working_days_between_is_negative_backwards() -> None:
    """Swapping the dates changes the sign."""
    assert -20 == FOIA.working_days_between(date(2021, 7, 9), date(2021, 6, 13))


def test_next_working_day_keeps_a_working_day_and_moves_past_a_holiday_weekend() -> None:
    """A working day is its own next working day; Christmas 2022 moves to Wednesday 28th."""
    assert date(2021, 6, 14) == FOIA.next_working_day(date(2021, 6, 14))
    assert date(2022, 12, 28) == FOIA.next_working_day(date(2022, 12, 24))


def test_holidays_between_lists_weekday_holidays_in_the_window() -> None:
    """Only weekday holidays strictly after the first date and up to the second are listed."""
    found = FOIA.holidays_between(date(2021, 12, 24), date(2022, 1, 5))

    assert [date(2021, 12, 27), date(2021, 12, 28), date(2022, 1, 3), date(2022, 1, 4)] == found


def test_extra_holiday_counts_only_for_laws_covering_its_region() -> None:
    """A proclaimed NI-only day moves FOIA dates but not FOISA ones."""
    extra = ((date(2027, 6, 14), "Proclaimed holiday", frozenset({"NIR"})),)
    foia = WorkingDays.for_law(Law.FOIA, extra=extra)
    foisa = WorkingDays.for_law(Law.FOISA, extra=extra)

    assert not foia.is_working_day(date(2027, 6, 14))
    assert "Proclaimed holiday (Northern Ireland)" == foia.why_not_working(date(2027, 6, 14))
    assert foisa.is_working_day(date(2027, 6, 14))


def test_sar_region_is_configurable() -> None:
    """A subject access calendar for Northern Ireland excludes 12 July."""
    nir = WorkingDays.for_law(Law.SAR, sar_region="NIR")

    assert not nir.is_working_day(date(2021, 7, 12))
    assert SAR_ENG.is_working_day(date(2021, 7, 12))


def test_unknown_region_is_a_config_error() -> None:
    """Only ENG, WLS, SCT and NIR are parts of the UK."""
    with pytest.raises(ConfigError, match="part of the UK"):
        WorkingDays.for_law(Law.SAR, sar_region="XYZ")


def test_any_year_is_computed_on_demand() -> None:
    """Years far from today work: Christmas 2040 and Easter Monday 2040 are holidays."""
    assert not FOIA.is_working_day(date(2040, 12, 25))
    assert not FOIA.is_working_day(date(2040, 4, 2))
    assert FOIA.is_working_day(date(2040, 4, 3))


@pytest.mark.parametrize("year", range(2019, 2031))
def test_easter_sunday_matches_the_package_good_friday(year: int) -> None:
    """Our Good Friday (Easter Sunday minus two days) is the package's."""
    listed = holidays.country_holidays("GB", subdiv="ENG", years=year)

    assert "Good Friday" == listed.get(easter_sunday(year) - timedelta(days=2))


def test_fingerprint_is_stable_and_changes_with_the_calendar() -> None:
    """Same holidays give the same fingerprint; an extra holiday or another law changes it."""
    today = date(2026, 3, 1)
    extra = ((date(2027, 6, 14), "Proclaimed holiday", frozenset({"ENG"})),)

    assert WorkingDays.for_law(Law.FOIA).fingerprint(today=today) == FOIA.fingerprint(today=today)
    assert WorkingDays.for_law(Law.EIR).fingerprint(today=today) == FOIA.fingerprint(today=today)
    assert WorkingDays.for_law(Law.FOIA, extra=extra).fingerprint(today=today) != FOIA.fingerprint(
        today=today
    )
    assert FOISA.fingerprint(today=today) != FOIA.fingerprint(today=today)


def test_fingerprint_ignores_an_extra_holiday_at_a_weekend() -> None:
    """A proclaimed day that falls on a Saturday changes no working day, so no fingerprint."""
    today = date(2026, 3, 1)
    extra = ((date(2027, 6, 12), "Saturday holiday", frozenset({"ENG"})),)

    assert WorkingDays.for_law(Law.FOIA, extra=extra).fingerprint(today=today) == FOIA.fingerprint(
        today=today
    )
