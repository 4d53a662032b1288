"""The loop breaker's rule on plain data: quick answers to new addresses of one domain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from foi_mailbot.outbound.breaker import Letter, answered_letters, is_exempt, trips
from foi_mailbot.settings import Settings

T0 = datetime(2026, 1, 12, 10, 0, tzinfo=UTC)


def _letter(n: int, minute: float, cause_minute: float | None) -> Letter:
    cause = None if cause_minute is None else T0 + timedelta(minutes=cause_minute)
    return Letter(f"support+{n}@desk.example", T0 + timedelta(minutes=minute), cause)


def test_a_letter_answering_mail_that_came_minutes_after_our_letter_is_an_answer() -> None:
    """Mail within the window after a letter to another address of the domain answers it."""
    letters = [_letter(0, 0, -30), _letter(1, 1.1, 1), _letter(2, 40, 39)]
    assert {1: 0} == answered_letters(letters, minutes=10)


def test_a_batch_of_people_writing_at_once_answers_one_letter() -> None:
    """Thirty requests arriving together after our last letter count as one answer."""
    first = [_letter(n, 0.1 * n, -1) for n in range(10)]
    batch = [_letter(10 + n, 5 + 0.1 * n, 4) for n in range(30)]
    assert not trips([*first, *batch[:-1]], batch[-1], limit=3, minutes=10)


def test_more_than_the_limit_of_quick_answers_trips() -> None:
    """Three quick answers are allowed; the fourth to a new address trips."""
    letters = [_letter(0, 0, -5), *(_letter(n, n + 0.1, n) for n in range(1, 4))]
    assert not trips(letters[:-1], letters[-1], limit=3, minutes=10)
    assert trips(letters, _letter(4, 4.1, 4), limit=3, minutes=10)


def test_a_slow_correspondent_never_trips() -> None:
    """People at one domain writing hours apart are not a loop."""
    letters = [_letter(n, 60 * n + 0.1, 60 * n) for n in range(6)]
    assert not trips(letters, _letter(9, 600.1, 600), limit=3, minutes=10)


def test_freemail_and_whatdotheyknow_are_exempt_by_default() -> None:
    """Shared domains where every address is another person are never stopped."""
    settings = Settings()
    for domain in ("gmail.com", "outlook.com", "whatdotheyknow.com", "proton.me"):
        assert is_exempt(domain, settings)
    assert not is_exempt("desk.example", settings)
