"""Corrections as labelled data: each time a person puts an automatic decision right, the
message, what was decided and what the person said are stored (`record`), so an authority can
measure the rules on its own mail (`export_jsonl`) and the digest can say how many of a week's
automatic decisions were corrected, by kind (`week_summary`).

Kinds: `staff_action` (what a staff message was read as doing: action, outcome) and `kind`
(what a message was classified as). Rows are only ever added.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TextIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from foi_mailbot.clock import as_utc
from foi_mailbot.storage.models import Case, Correction, InboundMessage, MessageStatus

STAFF_ACTION: Final = "staff_action"
KIND: Final = "kind"
LABELS: Final = {STAFF_ACTION: "staff mail read as an action", KIND: "messages classified"}


def decided_for(row: InboundMessage) -> dict[str, Any]:
    """What was decided automatically about `row`, as a correction records it."""
    if row.kind == "staff" and row.staff_reading:
        reading = row.staff_reading
        return {"action": reading.get("action"), "outcome": reading.get("outcome"),
                "sections": reading.get("sections", []), "applied": reading.get("applied")}
    return {"kind": row.kind, "rule": row.rule}


def record(
    session: Session,
    row: InboundMessage,
    *,
    kind: str,
    said: dict[str, Any],
    by: str,
    via: str,
    now: datetime,
) -> Correction:
    """Store one correction of `row`'s automatic decision."""
    correction = Correction(
        message_pk=row.id, case_id=row.case_id, kind=kind, decided=decided_for(row), said=said,
        by=by[:320], via=via, at=as_utc(now),
    )
    session.add(correction)
    return correction


def _rows(session: Session, since: datetime | None) -> Iterator[dict[str, Any]]:
    stmt = (
        select(Correction, InboundMessage.message_id, InboundMessage.arrived_at, Case.reference)
        .join(InboundMessage, Correction.message_pk == InboundMessage.id, isouter=True)
        .join(Case, Correction.case_id == Case.id, isouter=True)
        .order_by(Correction.id)
    )
    if since is not None:
        stmt = stmt.where(Correction.at >= as_utc(since))
    for c, message_id, arrived, reference in session.execute(stmt):
        yield {
            "message": c.message_pk, "message_id": message_id,
            "arrived": as_utc(arrived).isoformat() if arrived else None,
            "case": reference, "kind": c.kind, "decided": c.decided, "said": c.said,
            "by": c.by, "via": c.via, "at": as_utc(c.at).isoformat(),
        }


def export_jsonl(session: Session, out: TextIO, *, since: datetime | None = None) -> int:
    """Write every correction (or those made since `since`) as one JSON object a line."""
    count = 0
    for row in _rows(session, since):
        out.write(json.dumps(row, sort_keys=True) + "\n")
        count += 1
    return count


@dataclass(frozen=True)
class Corrected:
    """Of the automatic decisions of one kind in a period, how many a person corrected."""

    kind: str
    label: str
    decided: int
    corrected: int


def week_summary(session: Session, start: datetime, end: datetime) -> tuple[Corrected, ...]:
    """Decisions on messages that arrived in [start, end), and how many of them were corrected
    (whenever the correction was made), by kind."""
    in_period = (InboundMessage.arrived_at >= as_utc(start),
                 InboundMessage.arrived_at < as_utc(end),
                 InboundMessage.status == MessageStatus.APPLIED)
    applied = int(session.scalar(select(func.count(InboundMessage.id)).where(*in_period)) or 0)
    staff = int(session.scalar(select(func.count(InboundMessage.id)).where(
        *in_period, InboundMessage.kind == "staff", InboundMessage.case_id.is_not(None))) or 0)
    corrected: dict[str, int] = {
        kind: int(count) for kind, count in session.execute(
            select(Correction.kind, func.count(func.distinct(Correction.message_pk)))
            .join(InboundMessage, Correction.message_pk == InboundMessage.id)
            .where(*in_period)
            .group_by(Correction.kind)
        )
    }
    decided = {KIND: applied, STAFF_ACTION: staff}
    return tuple(
        Corrected(kind, LABELS[kind], decided[kind], corrected.get(kind, 0))
        for kind in (STAFF_ACTION, KIND)
        if decided[kind] or corrected.get(kind)
    )
