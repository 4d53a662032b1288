"""Operations: retention. Delete raw message bodies once they are old and fully dealt with.

Only the raw bytes go (`raw_message`); the header data, the classification, the case
records and the audit trail stay. A message keeps its body while processing is unfinished, while
it waits for a person, or while its case is still owed an answer (the body is the request). One
audit entry records every purge with its cutoff and counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import structlog
from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from foi_mailbot.cases.lifecycle import OPEN_STATES, State
from foi_mailbot.cases.register import audit
from foi_mailbot.clock import Clock
from foi_mailbot.errors import UsageError
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import Case, InboundMessage, MessageStatus, RawMessage

log = structlog.get_logger(__name__)

MIN_DAYS: Final = 30
FINISHED: Final = (MessageStatus.APPLIED, MessageStatus.DUPLICATE)
# A case under internal review still needs the original request.
_OWED: Final = tuple(sorted({*OPEN_STATES, State.UNDER_REVIEW}))
_CHUNK: Final = 500


@dataclass(frozen=True)
class PurgeResult:
    """What a purge did (or, for a dry run, would do)."""

    cutoff: datetime
    purged: int
    bytes_freed: int
    kept_unfinished: int
    kept_open_case: int
    dry_run: bool


def check_days(days: int) -> None:
    """Refuse a retention shorter than the minimum, in one sentence."""
    if days < MIN_DAYS:
        msg = (f"raw messages must be kept for at least {MIN_DAYS} days; "
               f"{days} days is too short")
        raise UsageError(msg)


def _old_with_body(cutoff: datetime) -> list[ColumnElement[bool]]:
    return [
        InboundMessage.raw_purged_at.is_(None),
        select(RawMessage.message_pk).where(RawMessage.message_pk == InboundMessage.id).exists(),
        InboundMessage.arrived_at < cutoff,
    ]


def _finished() -> list[ColumnElement[bool]]:
    return [InboundMessage.status.in_(FINISHED), InboundMessage.needs_person.is_(False)]


def _no_open_case() -> ColumnElement[bool]:
    open_case = select(Case.id).where(Case.id == InboundMessage.case_id,
                                      Case.status.in_([s.value for s in _OWED]))
    return or_(InboundMessage.case_id.is_(None), ~open_case.exists())


def _count(session: Session, *where: ColumnElement[bool]) -> int:
    stmt = select(func.count(InboundMessage.id)).where(*where)
    return int(session.scalar(stmt) or 0)


def purge_raw(
    factory: sessionmaker[Session], clock: Clock, *, older_than_days: int, dry_run: bool = False
) -> PurgeResult:
    """Delete the raw bodies of finished messages received more than `older_than_days` ago."""
    check_days(older_than_days)
    now = clock.now()
    cutoff = now - timedelta(days=older_than_days)
    with session_scope(factory) as session:
        old = _old_with_body(cutoff)
        rows = session.execute(
            select(InboundMessage.id, InboundMessage.size)
            .where(*old, *_finished(), _no_open_case())
            .order_by(InboundMessage.id)
        ).all()
        finished = _count(session, *old, *_finished())
        result = PurgeResult(
            cutoff=cutoff,
            purged=len(rows),
            bytes_freed=sum(int(size or 0) for _, size in rows),
            kept_unfinished=_count(session, *old) - finished,
            kept_open_case=finished - len(rows),
            dry_run=dry_run,
        )
        if dry_run:
            return result
        ids = [row_id for row_id, _ in rows]
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            session.execute(delete(RawMessage).where(RawMessage.message_pk.in_(chunk)),
                            execution_options={"synchronize_session": False})
            session.execute(
                update(InboundMessage).where(InboundMessage.id.in_(chunk))
                .values(raw_purged_at=now),
                execution_options={"synchronize_session": False},
            )
        audit(session, at=now, action="retention.purged",
              cause=f"raw messages older than {older_than_days} days",
              detail={"cutoff": cutoff.isoformat(), "older_than_days": older_than_days,
                      "purged": result.purged, "bytes_freed": result.bytes_freed,
                      "kept_unfinished": result.kept_unfinished,
                      "kept_open_case": result.kept_open_case})
    log.info("retention.purged", purged=result.purged, bytes_freed=result.bytes_freed,
             cutoff=cutoff.isoformat())
    return result
