"""The weekly digest: a summary of the register for the responsible officer, once per ISO week.

The scheduler checks every few minutes (`send_if_due`); once the configured weekday and time
(`digest.weekday`, `digest.at`, local time) have passed in the current ISO week, the digest is
built, rendered (HTML with a plain-text alternative) and queued, one outbox row per recipient
with the key `digest:{iso_year}-W{week}:{address}`. A daemon that was down at the set time sends
it when it is back, once; a rerun finds the rows and does nothing.

`build_digest` gathers every figure with SQL aggregates and capped lists, never a per-case walk,
so it stays fast on a register of a hundred thousand cases. Its financial-year figures come from
`jobs.stats`, the same functions `foi-mailbot report` uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Final
from zoneinfo import ZoneInfo

import jinja2
import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import ColumnElement

from foi_mailbot.cases.lifecycle import CLOCK_RUNNING_STATES, OPEN_STATES, State
from foi_mailbot.cases.register import Calendars
from foi_mailbot.clock import as_utc
from foi_mailbot.deadlines.laws import Law
from foi_mailbot.jobs.recalc import CALENDAR_CAUSE
from foi_mailbot.jobs.reminders import staff_message, templates
from foi_mailbot.jobs.stats import (
    Compliance,
    WeekVolume,
    clarification_sought,
    compliance,
    financial_year,
    legislation,
    short_date,
    weekly_volumes,
)
from foi_mailbot.outbound.outbox import enqueue
from foi_mailbot.outbound.render import render_pair
from foi_mailbot.settings import DigestSettings, Settings
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import (
    AuditEntry,
    Case,
    CaseEvent,
    InboundMessage,
    MessageStatus,
    OutboxMessage,
    OutboxStatus,
)
from foi_mailbot.storage.state import get_state

if TYPE_CHECKING:
    from foi_mailbot.bootstrap import App

log = structlog.get_logger(__name__)

TEMPLATE: Final = "digest/weekly"
PURPOSE: Final = "digest"
LIST_LIMIT: Final = 50
"""Each list in the digest shows at most this many entries, then "and N more"."""
SOON_WORKING_DAYS: Final = 5
CHART_WEEKS: Final = 12
WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_OPEN: Final = [s.value for s in OPEN_STATES]
_RUNNING: Final = [s.value for s in CLOCK_RUNNING_STATES]


@dataclass(frozen=True)
class CaseLine:
    """One case in a digest list; `days` is working days left, overdue or waiting."""

    reference: str
    law: str
    status: str
    received: date
    due: date | None
    days: int | None = None
    since: date | None = None
    note: str = ""

    @property
    def due_text(self) -> str:
        """The due date, short, or a dash while the clock is stopped."""
        return short_date(self.due) if self.due else "-"

    @property
    def since_text(self) -> str:
        """The date the case has been waiting since, short."""
        return short_date(self.since) if self.since else "-"


@dataclass(frozen=True)
class Listing:
    """A capped list of cases and how many there are in all."""

    lines: tuple[CaseLine, ...]
    total: int

    @property
    def more(self) -> int:
        """How many were left off the list."""
        return self.total - len(self.lines)


@dataclass(frozen=True)
class StateCount:
    """Open cases in one state, and the earliest due date among them."""

    state: str
    count: int
    next_due: date | None

    @property
    def label(self) -> str:
        """The state in words."""
        return self.state.replace("_", " ").capitalize()

    @property
    def next_due_text(self) -> str:
        """The earliest due date, short."""
        return short_date(self.next_due) if self.next_due else "-"


@dataclass(frozen=True)
class Flagged:
    """A stored message that needs a person."""

    message_pk: int
    arrived: date
    sender: str
    reference: str
    reason: str

    @property
    def arrived_text(self) -> str:
        """The day it arrived, short."""
        return short_date(self.arrived)


@dataclass(frozen=True)
class CalendarMove:
    """A due date moved because the working-day calendar changed."""

    reference: str
    before: date | None
    after: date | None

    @property
    def before_text(self) -> str:
        """The old due date, short."""
        return short_date(self.before) if self.before else "-"

    @property
    def after_text(self) -> str:
        """The new due date, short."""
        return short_date(self.after) if self.after else "-"


@dataclass(frozen=True)
class Health:
    """The daemon's own state: last mailbox sync, and what is stuck."""

    last_sync: datetime | None
    sync_stale: bool
    messages_needing_attention: int
    outbox_failed: int
    outbox_waiting: int

    @property
    def last_sync_text(self) -> str:
        """The last successful sync in local time, or "never"."""
        return f"{short_date(self.last_sync.date())} {self.last_sync:%H:%M}" if self.last_sync else "never"

    @property
    def ok(self) -> bool:
        """True when nothing needs looking at."""
        return not (self.sync_stale or self.messages_needing_attention or self.outbox_failed)


@dataclass(frozen=True)
class Digest:
    """Every figure of one weekly digest (also the template context)."""

    organisation: str
    week: str
    today: date
    period_start: date
    period_end: date
    received: int
    reviews_received: int
    answered: int
    closed_without_answer: int
    open_total: int
    open_by_state: tuple[StateCount, ...]
    soon_until: date
    due_soon: Listing
    overdue: Listing
    awaiting_clarification: Listing
    reviews: Listing
    needs_person: tuple[Flagged, ...]
    needs_person_total: int
    compliance: Compliance
    weeks: tuple[WeekVolume, ...]
    calendar_moves: tuple[CalendarMove, ...]
    health: Health

    @property
    def chart_max(self) -> int:
        """The largest weekly volume in the chart (at least 1), which sets the bar scale."""
        return max([1, *(w.received for w in self.weeks)])

    @property
    def fy_label(self) -> str:
        """The financial year the figures to date cover."""
        return self.compliance.label


def _count(session: Session, *where: ColumnElement[bool]) -> int:
    return int(session.scalar(select(func.count(Case.id)).where(*where)) or 0)


def _days_between(calendars: Calendars, law: str, a: date, b: date) -> int:
    return calendars.for_law(Law(law)).working_days_between(a, b)


def _listing(session: Session, query: object, lines: list[CaseLine], *where: ColumnElement[bool]) -> Listing:
    del query
    return Listing(tuple(lines), max(len(lines), _count(session, *where)))
