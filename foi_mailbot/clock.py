"""The one time seam: everything that needs "now" is handed a Clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


class Clock(Protocol):
    """Source of the current instant, always timezone-aware UTC."""

    def now(self) -> datetime:
        """The current instant, aware UTC."""
        ...


class SystemClock:
    """See `Clock`: the real wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FixedClock:
    """See `Clock`: a clock tests set and move by hand."""

    current: datetime = field(default_factory=lambda: datetime(2026, 1, 5, 9, 0, tzinfo=UTC))

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward."""
        self.current = self.current + delta

    def set(self, instant: datetime) -> None:
        """Jump to an instant (must be aware)."""
        if instant.tzinfo is None:
            msg = "FixedClock needs an aware datetime"
            raise ValueError(msg)
        self.current = instant


def as_utc(instant: datetime) -> datetime:
    """Return an aware UTC datetime; naive values (from SQLite) are taken as UTC."""
    if instant.tzinfo is None:
        return instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)


def local_date(instant: datetime, tz: ZoneInfo = LONDON) -> date:
    """The calendar date an instant falls on in the organisation's time zone."""
    return as_utc(instant).astimezone(tz).date()
