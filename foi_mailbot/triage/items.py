"""Triage items: the messages that need a person, each with a token that settles it once.

An item is open while its message is flagged for a person and not resolved: the same test the
digest, the metrics and `foi-mailbot triage` count by, so they always agree. Settling an item
resolves its message; a closed case settles the items on it. The token is random (80 bits):
it is what a reply must quote for a command in it to be believed.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Final

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from foi_mailbot.cases.lifecycle import State, is_open
from foi_mailbot.clock import as_utc
from foi_mailbot.storage.models import Case, InboundMessage, TriageItem

if TYPE_CHECKING:
    from foi_mailbot.cases.service import Services

NOTICE: Final = "notice"
SUMMARY: Final = "summary"
# Set aside rather than undecided: a line in the daily summary, not a mail of its own.
SET_ASIDE_KINDS: Final = frozenset({"not_foi", "auto_reply"})
TOKEN_BYTES: Final = 10  # 80 bits
TOKEN_RE: Final = re.compile(r"\bFOI triage ([0-9a-f]{20})\b", re.IGNORECASE)
_TAG_RE: Final = re.compile(r"\[FOI triage [0-9a-f]{20}\]\s*", re.IGNORECASE)


def team_address(services: Services) -> str:
    """Where the team's triage mail goes: `[triage] address`, else the team address."""
    return services.settings.triage.address or services.settings.organisation.team_address


def new_token() -> str:
    """A fresh random token (20 hex digits, 80 bits)."""
    return secrets.token_hex(TOKEN_BYTES)


def tag(token: str) -> str:
    """The token as it appears in a subject line: `[FOI triage <token>]`."""
    return f"[FOI triage {token}]"


def untagged(subject: str) -> str:
    """A subject without the item tags in it (a reply to a notice quotes the notice's)."""
    return _TAG_RE.sub("", subject).strip()


def open_condition() -> tuple[ColumnElement[bool], ...]:
    """Messages that are open items: flagged for a person and not resolved."""
    return (InboundMessage.needs_person.is_(True), InboundMessage.resolved_at.is_(None))


@dataclass(frozen=True)
class OpenItem:
    """One open item as listed: its message, token (None until the sweep names it), age."""

    message_pk: int
    token: str | None
    route: str
    arrived: datetime
    sender: str
    subject: str
    reason: str
    kind: str | None
    reference: str | None

    def age(self, now: datetime) -> str:
        """How long the item has waited, in days and hours."""
        waited = as_utc(now) - as_utc(self.arrived)
        days, hours = waited.days, waited.seconds // 3600
        return f"{days}d {hours}h" if days else f"{max(hours, 0)}h"


def route_of(row: InboundMessage) -> str:
    """Whether the message gets a notice of its own or a line in the daily summary."""
    return SUMMARY if (row.kind or "") in SET_ASIDE_KINDS else NOTICE


def open_items(session: Session, limit: int | None = None) -> list[OpenItem]:
    """Every open item, oldest first (the same set `stats.count_flagged` counts)."""
    stmt = (
        select(InboundMessage, TriageItem.token, TriageItem.route, Case.reference)
        .outerjoin(TriageItem, TriageItem.message_pk == InboundMessage.id)
        .outerjoin(Case, InboundMessage.case_id == Case.id)
        .where(*open_condition())
        .order_by(InboundMessage.id)
        .limit(limit)
    )
    return [
        OpenItem(m.id, token, route or route_of(m), as_utc(m.arrived_at), m.from_email or "-",
                 m.subject or "(no subject)", m.attention_reason or "-", m.kind, ref)
        for m, token, route, ref in session.execute(stmt)
    ]


def ensure_items(session: Session, now: datetime) -> list[TriageItem]:
    """Give every open message without an item one (with a fresh token); returns the new ones.

    Items whose case has since been closed are settled first: nothing is left to decide.
    """
    _settle_closed_cases(session, now)
    missing = select(InboundMessage).where(
        *open_condition(),
        ~select(TriageItem.message_pk).where(TriageItem.message_pk == InboundMessage.id)
        .exists(),
    )
    made = [
        TriageItem(message_pk=row.id, token=new_token(), route=route_of(row), opened_at=now)
        for row in session.scalars(missing)
    ]
    session.add_all(made)
    session.flush()
    return made


def _settle_closed_cases(session: Session, now: datetime) -> None:
    stmt = (
        select(InboundMessage, Case.status)
        .join(Case, InboundMessage.case_id == Case.id)
        .where(*open_condition())
    )
    for row, status in session.execute(stmt):
        if not is_open(State(status)) and status != State.RESPONDED.value:
            row.resolved_at = now
            item = item_of(session, row.id)
            if item is not None and item.settled_at is None:
                item.settled_at, item.command = now, "case closed"


def item_of(session: Session, message_pk: int) -> TriageItem | None:
    """The item of a message, if it has one."""
    return session.scalars(select(TriageItem).where(TriageItem.message_pk == message_pk)).first()


def by_token(session: Session, token: str) -> TriageItem | None:
    """The item with this token, locked for the transaction (on databases that lock rows)."""
    stmt = select(TriageItem).where(TriageItem.token == token.lower()).with_for_update()
    return session.scalars(stmt).first()


def settle(item: TriageItem, *, by: str, command: str, now: datetime,
           undo: dict[str, object] | None) -> None:
    """Mark an item settled by `command` from `by`, and resolve its message."""
    item.settled_at, item.settled_by, item.command = now, by[:320], command
    item.undo = dict(undo) if undo is not None else None
    item.message.resolved_at = now


def await_send(row: InboundMessage, item: TriageItem | None, reason: str) -> None:
    """Keep a message open for a person to release its case's held letter by replying `send`.

    The command that held the letter used the item's token, so the item opens again under a
    fresh one, as a held letter's item would be raised; what that command did can still be
    undone with the new token.
    """
    row.needs_person, row.resolved_at, row.attention_reason = True, None, reason
    if item is not None and item.settled_at is not None:
        undo = item.undo
        reopen(item)
        item.undo = undo


def reopen(item: TriageItem) -> str:
    """Open a settled item again under a fresh token (the old one has been used); returns it."""
    item.settled_at = item.settled_by = item.command = None
    item.undo = None
    item.token = new_token()
    item.message.resolved_at = None
    item.message.needs_person = True
    return item.token


__all__ = [
    "NOTICE", "SET_ASIDE_KINDS", "SUMMARY", "TOKEN_RE", "OpenItem", "await_send", "by_token",
    "ensure_items", "item_of", "new_token", "open_condition", "open_items", "reopen",
    "route_of", "settle", "tag", "team_address", "untagged",
]
