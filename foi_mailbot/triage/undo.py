"""What a command changed, kept so that `undo <token>` can put it back.

Before a command runs, the cases it may touch are photographed (their dated fields and the last
timeline entry) with the message's own case. Undoing restores those fields, removes the timeline
entries written since, moves back the messages a merge moved, and closes a case the command
opened ("opened in error"): its reference stays taken, and a letter already sent stays sent.
A `send` is not undone at all: its letter has gone, and the hold cannot honestly be put back
(`sent_letter` says so).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from foi_mailbot.cases.register import add_event, audit
from foi_mailbot.clock import as_utc, local_date
from foi_mailbot.storage.models import Case, CaseEvent, InboundMessage, OutboxMessage

_DATES = ("received_on", "due_on", "completed_on")
_PLAIN = ("status", "law", "hold", "outcome", "on_time", "working_days_taken", "deadline")


def snapshot(session: Session, cases: list[Case], message: InboundMessage | None) -> dict[str, Any]:
    """The fields of `cases` and of the message that a command may change."""
    session.flush()
    photos = []
    for case in {c.id: c for c in cases}.values():
        last = session.scalar(select(func.max(CaseEvent.id)).where(CaseEvent.case_id == case.id))
        photo: dict[str, Any] = {"id": case.id, "last_event": last or 0,
                                 "received_at": case.received_at.isoformat()}
        photo.update({f: getattr(case, f) for f in _PLAIN})
        photo.update({f: _iso(getattr(case, f)) for f in _DATES})
        photos.append(photo)
    return {"cases": photos,
            "message": {"id": message.id, "case_id": message.case_id, "kind": message.kind,
                        "reason": message.attention_reason} if message is not None else None,
            "moved": [], "opened": []}


def restore(session: Session, saved: dict[str, Any], now: datetime, *, by: str) -> list[str]:
    """Put back what `saved` describes; returns what was done, in words."""
    done: list[str] = []
    for photo in saved.get("cases", []):
        case = session.get(Case, photo["id"])
        if case is None:
            continue
        for name in _PLAIN:
            setattr(case, name, photo[name])
        for name in _DATES:
            setattr(case, name, date.fromisoformat(photo[name]) if photo[name] else None)
        case.received_at = datetime.fromisoformat(photo["received_at"])
        case.updated_at = now
        later = select(CaseEvent).where(CaseEvent.case_id == case.id,
                                        CaseEvent.id > photo["last_event"])
        for event in session.scalars(later):
            session.delete(event)
        session.flush()
        session.expire(case, ["events"])
        done.append(f"{case.reference} put back as it was ({case.status}, due {case.due_on})")
    for pk in saved.get("moved", []):
        row = session.get(InboundMessage, pk["message"])
        if row is not None:
            row.case_id = pk["case_id"]
    for case_id in saved.get("opened", []):
        case = session.get(Case, case_id)
        if case is not None:
            case.status, case.outcome, case.hold, case.updated_at = "closed", None, None, now
            add_event(session, case, kind="closed", on=local_date(now), now=now,
                      reasons=[f"opened in error: undone by {by}"], status_after="closed")
            done.append(f"{case.reference} closed (opened in error)")
    message = saved.get("message")
    if message is not None:
        row = session.get(InboundMessage, message["id"])
        if row is not None:
            row.case_id, row.kind = message["case_id"], message["kind"]
            row.attention_reason = message.get("reason", row.attention_reason)
    audit(session, at=now, action="triage.undone", cause=by, detail={"done": done})
    return done


def sent_letter(session: Session, saved: dict[str, Any]) -> str | None:
    """Why what `saved` describes cannot be undone: the letter its command sent, in words;
    None when it sent none."""
    key = saved.get("sent")
    if not key:
        return None
    letter = session.scalars(select(OutboxMessage).where(OutboxMessage.key == key)).first()
    if letter is None:
        return None
    when = (f"was already sent, on {as_utc(letter.sent_at):%Y-%m-%d at %H:%M} UTC,"
            if letter.sent_at else "is already on its way")
    return f"the letter to {letter.to_email} {when} and cannot be recalled"


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


__all__ = ["restore", "sent_letter", "snapshot"]
