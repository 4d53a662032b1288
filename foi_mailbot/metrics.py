"""Operations: the figures the health endpoint, `foi-mailbot status` and Prometheus show.

Every figure is read from the database when asked for, not counted in memory, so counters survive
a restart and agree whichever instance (active or standby) is scraped. The only counts that have
no table of their own, component errors, are kept in `service_state` by `record_error`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

import structlog
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from foi_mailbot.cases.lifecycle import OPEN_STATES, State
from foi_mailbot.clock import Clock, as_utc
from foi_mailbot.outbound.acks import TEMPLATES as ACK_TEMPLATES
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import (
    Case,
    InboundMessage,
    OutboxMessage,
    OutboxStatus,
    ServiceState,
)
from foi_mailbot.storage.state import get_state, put_state

log = structlog.get_logger(__name__)

PREFIX: Final = "foi_mailbot"
ERRORS_KEY: Final = "errors"
LAST_SYNC_KEY: Final = "last_sync"
ACK_PURPOSES: Final = frozenset(ACK_TEMPLATES)
# Reminder rows are keyed by kind (`reminder_due_5`, `reminder_overdue`); all share the prefix.
REMINDER_PREFIX: Final = "reminder"
# A case under internal review is still owed an answer.
_OWED_STATES: Final = frozenset({*OPEN_STATES, State.UNDER_REVIEW})


@dataclass(frozen=True)
class Figures:
    """One consistent reading of the register's operational figures."""

    messages_by_kind: Mapping[str, int] = field(default_factory=dict)
    cases_opened: int = 0
    cases_open: int = 0
    acknowledgements_sent: int = 0
    reminders_sent: int = 0
    errors: Mapping[str, int] = field(default_factory=dict)
    outbox_backlog: int = 0
    messages_needing_person: int = 0
    outbox_needing_person: int = 0
    last_sync_at: datetime | None = None
    last_sync_stored: int | None = None

    @property
    def needs_person(self) -> int:
        """Messages and outgoing mail waiting for a person."""
        return self.messages_needing_person + self.outbox_needing_person


def _count(session: Session, *where: ColumnElement[bool]) -> int:
    stmt = select(func.count()).select_from(OutboxMessage).where(*where)
    return int(session.scalar(stmt) or 0)


def _last_sync(session: Session) -> tuple[datetime | None, int | None]:
    value = get_state(session, LAST_SYNC_KEY) or {}
    try:
        at = as_utc(datetime.fromisoformat(value["at"])) if value.get("at") else None
    except (TypeError, ValueError):
        at = None
    stored = value.get("stored")
    return at, int(stored) if isinstance(stored, int) else None


def read_figures(session: Session) -> Figures:
    """Read every figure in one session (raises SQLAlchemyError if the tables cannot be read)."""
    kinds = session.execute(
        select(InboundMessage.kind, func.count()).group_by(InboundMessage.kind)
    ).all()
    by_kind = {str(kind or "unclassified"): int(n) for kind, n in kinds}
    owed = [s.value for s in _OWED_STATES]
    sent = OutboxMessage.status == OutboxStatus.SENT
    at, stored = _last_sync(session)
    errors = get_state(session, ERRORS_KEY) or {}
    return Figures(
        messages_by_kind=by_kind,
        cases_opened=int(session.scalar(select(func.count(Case.id))) or 0),
        cases_open=int(session.scalar(select(func.count(Case.id)).where(Case.status.in_(owed)))
                       or 0),
        acknowledgements_sent=_count(session, sent, OutboxMessage.purpose.in_(ACK_PURPOSES)),
        reminders_sent=_count(session, sent, OutboxMessage.purpose.startswith(REMINDER_PREFIX)),
        errors={str(k): int(v) for k, v in errors.items() if isinstance(v, int)},
        outbox_backlog=_count(
            session, OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING])
        ),
        messages_needing_person=int(session.scalar(
            select(func.count(InboundMessage.id)).where(
                InboundMessage.needs_person.is_(True), InboundMessage.resolved_at.is_(None)
            )
        ) or 0),
        outbox_needing_person=_count(session, OutboxMessage.status == OutboxStatus.NEEDS_ATTENTION),
        last_sync_at=at,
        last_sync_stored=stored,
    )


def record_error(session: Session, where: str, now: datetime) -> None:
    """Add one to the persistent error count for a component (`mailbox`, `smtp`, ...)."""
    # Lock the row where the database can, so two writers never lose an increment.
    session.execute(
        select(ServiceState.key).where(ServiceState.key == ERRORS_KEY).with_for_update()
    )
    counts = get_state(session, ERRORS_KEY) or {}
    counts[where] = int(counts.get(where, 0)) + 1
    put_state(session, ERRORS_KEY, counts, now)


class DatabaseCollector(Collector):
    """A Prometheus collector that reads `Figures` from the database at every scrape."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory

    def collect(self) -> Iterator[Metric]:
        """Yield the metric families; on a database failure only `database_up 0`."""
        up = GaugeMetricFamily(f"{PREFIX}_database_up", "1 if the database answered this scrape.")
        try:
            with session_scope(self._factory) as session:
                figures = read_figures(session)
        except SQLAlchemyError as exc:
            log.warning("metrics.database_unavailable", error=exc.__class__.__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from _families(figures)


def _counter(name: str, doc: str, value: int) -> CounterMetricFamily:
    return CounterMetricFamily(f"{PREFIX}_{name}", doc, value=value)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_{name}", doc, value=value)


def _families(figures: Figures) -> Iterator[Metric]:
    messages = CounterMetricFamily(
        f"{PREFIX}_messages", "Messages stored, by what classification decided.", labels=["kind"]
    )
    for kind, n in sorted(figures.messages_by_kind.items()):
        messages.add_metric([kind], n)
    yield messages
    yield _counter("cases_opened", "Cases opened since the register began.", figures.cases_opened)
    yield _counter("acknowledgements_sent", "Acknowledgements accepted by the mail server.",
                   figures.acknowledgements_sent)
    yield _counter("reminders_sent", "Reminders accepted by the mail server.",
                   figures.reminders_sent)
    errors = CounterMetricFamily(
        f"{PREFIX}_errors", "Failed attempts to reach a server, by component.", labels=["where"]
    )
    for where, n in sorted(figures.errors.items()):
        errors.add_metric([where], n)
    yield errors
    yield _gauge("outbox_backlog", "Outgoing messages not yet sent.", figures.outbox_backlog)
    yield _gauge("needs_person", "Messages and outgoing mail waiting for a person.",
                 figures.needs_person)
    yield _gauge("cases_open", "Cases still owed an answer.", figures.cases_open)
    last = figures.last_sync_at.timestamp() if figures.last_sync_at else 0.0
    yield _gauge("last_sync_timestamp_seconds",
                 "When the mailbox was last synced (Unix time; 0 if never).", last)


def make_registry(factory: sessionmaker[Session]) -> CollectorRegistry:
    """A private registry (never the global one) holding the database collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(factory))
    return registry


def render_metrics(registry: CollectorRegistry) -> bytes:
    """The Prometheus text exposition of the figures (`make_registry`)."""
    return generate_latest(registry)


def count_error(factory: sessionmaker[Session], clock: Clock, where: str) -> None:
    """`record_error` in its own transaction."""
    with session_scope(factory) as session:
        record_error(session, where, clock.now())
