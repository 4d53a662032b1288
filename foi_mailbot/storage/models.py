"""The case register's tables (SQLAlchemy 2 typed ORM). No business rules live here."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Aware datetimes everywhere; SQLite returns them naive, `clock.as_utc` repairs that on read.
TZ = DateTime(timezone=True)


class Base(DeclarativeBase):
    """Declarative base with a naming convention Alembic can rely on."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class MessageStatus:
    """Where a stored message is in the pipeline."""

    STORED = "stored"
    PROCESSING = "processing"
    """Taken up by a process (its attempt counted); left so by a process that stopped."""
    PARSED = "parsed"
    CLASSIFIED = "classified"
    APPLIED = "applied"
    NEEDS_ATTENTION = "needs_attention"
    DUPLICATE = "duplicate"


class InboundMessage(Base):
    """A message exactly as received, then what we learnt from it."""

    __tablename__ = "inbound_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(320))
    folder: Mapped[str] = mapped_column(String(255))
    direction: Mapped[str] = mapped_column(String(16))
    arrived_at: Mapped[datetime] = mapped_column(TZ)
    stored_at: Mapped[datetime] = mapped_column(TZ)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    message_id: Mapped[str | None] = mapped_column(String(998), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    raw_purged_at: Mapped[datetime | None] = mapped_column(TZ)
    status: Mapped[str] = mapped_column(String(32), default=MessageStatus.STORED, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # What parsing found (header data only; never the body).
    subject: Mapped[str | None] = mapped_column(Text)
    from_email: Mapped[str | None] = mapped_column(String(320), index=True)
    from_name: Mapped[str | None] = mapped_column(Text)
    defects: Mapped[list[Any] | None] = mapped_column(JSON)
    # What classification decided, and why.
    kind: Mapped[str | None] = mapped_column(String(32), index=True)
    rule: Mapped[str | None] = mapped_column(String(64))
    reasons: Mapped[list[Any] | None] = mapped_column(JSON)
    misses: Mapped[list[Any] | None] = mapped_column(JSON)
    flags: Mapped[list[Any] | None] = mapped_column(JSON)
    effect: Mapped[str | None] = mapped_column(Text)
    needs_person: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    attention_reason: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column(TZ)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id"), index=True)
    # In the mailbox (or the files) before the service started on it: never answered by itself.
    history: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Staff mail: what it was read as doing (action, outcome, sections, reasons, applied).
    staff_reading: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    # Set to a case opened in the same transaction, its id is filled in when the case is
    # written (the same for audit entries and outbox rows): opening a case costs no flush.
    case: Mapped[Case | None] = relationship(foreign_keys=[case_id])
    copies: Mapped[list[SourceCopy]] = relationship(back_populates="message")
    # Loaded only when asked for; gone once purged.
    body: Mapped[RawMessage | None] = relationship(lazy="select")


class RawMessage(Base):
    """A stored message's bytes, exactly as received.

    Kept apart from what we learn of the message: SQLite rewrites a whole row when any of it
    changes, and recording a decision beside a message of megabytes would rewrite them too.
    """

    __tablename__ = "raw_message"

    message_pk: Mapped[int] = mapped_column(ForeignKey("inbound_message.id"), primary_key=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)


class SourceCopy(Base):
    """One place a message was seen: (mailbox, folder, UIDVALIDITY, UID) or a file key."""

    __tablename__ = "source_copy"

    source_key: Mapped[str] = mapped_column(String(1024), primary_key=True)
    message_pk: Mapped[int] = mapped_column(ForeignKey("inbound_message.id"), index=True)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    uid: Mapped[int | None] = mapped_column(BigInteger)
    seen_at: Mapped[datetime] = mapped_column(TZ)

    message: Mapped[InboundMessage] = relationship(back_populates="copies")


class FolderCheckpoint(Base):
    """The highest UID fully stored per folder, valid for one UIDVALIDITY."""

    __tablename__ = "folder_checkpoint"

    mailbox: Mapped[str] = mapped_column(String(320), primary_key=True)
    folder: Mapped[str] = mapped_column(String(255), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger)


class Counter(Base):
    """Gap-free counters (the reference sequence): a row lock serialises allocation."""

    __tablename__ = "counter"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class Case(Base):
    """A request (or internal review) and where it stands."""

    __tablename__ = "case"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger, unique=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    law: Mapped[str] = mapped_column(String(16))
    is_review: Mapped[bool] = mapped_column(Boolean, default=False)
    original_case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id"))
    applicant_name: Mapped[str] = mapped_column(Text, default="")
    applicant_email: Mapped[str] = mapped_column(String(320), index=True)
    subject: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(32), index=True)
    channel: Mapped[str] = mapped_column(String(16), default="email")
    received_at: Mapped[datetime] = mapped_column(TZ)
    received_on: Mapped[date] = mapped_column(Date, index=True)
    due_on: Mapped[date | None] = mapped_column(Date, index=True)
    deadline: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    calendar_fingerprint: Mapped[str | None] = mapped_column(String(64))
    completed_on: Mapped[date | None] = mapped_column(Date)
    outcome: Mapped[str | None] = mapped_column(String(32))
    sections: Mapped[list[Any] | None] = mapped_column(JSON)
    on_time: Mapped[bool | None] = mapped_column(Boolean)
    working_days_taken: Mapped[int | None] = mapped_column(Integer)
    # use_alter: case and inbound_message point at each other.
    opened_by: Mapped[int | None] = mapped_column(
        ForeignKey("inbound_message.id", use_alter=True, name="fk_case_opened_by")
    )
    created_at: Mapped[datetime] = mapped_column(TZ)
    updated_at: Mapped[datetime] = mapped_column(TZ)
    # Why no letter or reminder goes until a person acts ("to confirm", "letter held"); None: none.
    hold: Mapped[str | None] = mapped_column(String(64))

    events: Mapped[list[CaseEvent]] = relationship(
        back_populates="case", order_by="CaseEvent.id", foreign_keys="CaseEvent.case_id"
    )


class CaseEvent(Base):
    """One entry of a case's timeline: what happened, on which date, caused by which message."""

    __tablename__ = "case_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    clock_event: Mapped[str | None] = mapped_column(String(40))
    on: Mapped[date] = mapped_column(Date)
    days: Mapped[int | None] = mapped_column(Integer)
    message_pk: Mapped[int | None] = mapped_column(ForeignKey("inbound_message.id"))
    outbox_pk: Mapped[int | None] = mapped_column(ForeignKey("outbox_message.id"))
    reasons: Mapped[list[Any] | None] = mapped_column(JSON)
    status_before: Mapped[str | None] = mapped_column(String(32))
    status_after: Mapped[str | None] = mapped_column(String(32))
    due_before: Mapped[date | None] = mapped_column(Date)
    due_after: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(TZ)

    case: Mapped[Case] = relationship(back_populates="events", foreign_keys=[case_id])


class AuditEntry(Base):
    """Append-only: every change, what caused it, and when. Rows are never updated."""

    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(TZ, index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id"), index=True)
    message_pk: Mapped[int | None] = mapped_column(ForeignKey("inbound_message.id"))
    action: Mapped[str] = mapped_column(String(64))
    cause: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    case: Mapped[Case | None] = relationship()


class OutboxStatus:
    """Where an outgoing message is."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    NEEDS_ATTENTION = "needs_attention"


class OutboxMessage(Base):
    """A message we will send, unique per purpose (`key`), its Message-ID minted at enqueue."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    to_email: Mapped[str] = mapped_column(String(320), index=True)
    automatic: Mapped[bool] = mapped_column(Boolean, default=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(32), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(TZ)
    retry_until: Mapped[datetime] = mapped_column(TZ)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TZ, index=True)
    sent_at: Mapped[datetime | None] = mapped_column(TZ)
    copied_to_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    caused_by: Mapped[int | None] = mapped_column(ForeignKey("inbound_message.id"))

    case: Mapped[Case | None] = relationship()


class ServiceState(Base):
    """Small facts the daemon keeps about itself (last sync, calendar fingerprint, failures)."""

    __tablename__ = "service_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(TZ)


class Correction(Base):
    """A person's correction of an automatic decision: labelled data to measure the rules by.

    `decided` is what was decided automatically, `said` what the person said instead (both as
    JSON, e.g. {"action": "respond", "outcome": "refused"}); `kind` names what was corrected
    (`staff_action`, `kind`, ...). Rows are never updated."""

    __tablename__ = "correction"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_pk: Mapped[int | None] = mapped_column(ForeignKey("inbound_message.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id"))
    kind: Mapped[str] = mapped_column(String(40))
    decided: Mapped[dict[str, Any]] = mapped_column(JSON)
    said: Mapped[dict[str, Any]] = mapped_column(JSON)
    by: Mapped[str] = mapped_column(String(320))
    via: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(TZ, index=True)
class TriageItem(Base):
    """A message that needs a person, and the token that settles it (once)."""

    __tablename__ = "triage_item"

    message_pk: Mapped[int] = mapped_column(ForeignKey("inbound_message.id"), primary_key=True)
    token: Mapped[str] = mapped_column(String(32), unique=True)
    # "notice": a mail of its own to the team; "summary": a line in the daily summary.
    route: Mapped[str] = mapped_column(String(16))
    opened_at: Mapped[datetime] = mapped_column(TZ)
    # Open items are found from their messages (`needs_person`), so this needs no index.
    settled_at: Mapped[datetime | None] = mapped_column(TZ)
    settled_by: Mapped[str | None] = mapped_column(String(320))
    command: Mapped[str | None] = mapped_column(Text)
    # What the settling command changed, so that `undo` can put it back.
    undo: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    message: Mapped[InboundMessage] = relationship()


__all__ = [
    "AuditEntry",
    "Base",
    "Case",
    "CaseEvent",
    "Correction",
    "Counter",
    "FolderCheckpoint",
    "InboundMessage",
    "MessageStatus",
    "OutboxMessage",
    "OutboxStatus",
    "ServiceState",
    "SourceCopy",
    "TriageItem",
]
