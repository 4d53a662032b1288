"""Stored messages through the stages: parse -> classify -> match -> apply, then commit.

A message's stages run in one transaction, shared by the messages of a backlog this process
stored (`GROUP` to a commit). An exception marks the message (attempts, error) and, after
`MAX_ATTEMPTS`, hands it to a person. Nothing here loops or sleeps: the daemon does.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from contextlib import closing
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Final

import structlog
from sqlalchemy import bindparam, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from foi_mailbot.cases.follow_up_match import refine_match, sender_open_cases
from foi_mailbot.cases.matching import Match, find_thread, resolve
from foi_mailbot.cases.service import Outcome, Services, apply
from foi_mailbot.classify import classify
from foi_mailbot.classify.base import Classification, ClassifyContext, Kind
from foi_mailbot.clock import Clock
from foi_mailbot.groups import Done, Group, earlier_changes_matter, log_done
from foi_mailbot.outbound.compose import could_be_minted
from foi_mailbot.parse_ahead import ParseAhead
from foi_mailbot.parsing import parse
from foi_mailbot.parsing.parsed import ParsedMail
from foi_mailbot.settings import Settings
from foi_mailbot.storage.db import session_scope, unwritten
from foi_mailbot.storage.models import (
    InboundMessage,
    MessageStatus,
    OutboxMessage,
    RawMessage,
)

log = structlog.get_logger(__name__)

MAX_ATTEMPTS = 3
# Failures of the database rather than of a message: SQLite BUSY, LOCKED, IOERR and FULL;
# PostgreSQL connection exceptions, insufficient resources (disk full) and operator shutdown.
_SQLITE_UNAVAILABLE: Final = frozenset({5, 6, 10, 13})
_SQLSTATES_UNAVAILABLE: Final = ("08", "53", "57P")
PENDING = (MessageStatus.STORED, MessageStatus.PARSED, MessageStatus.CLASSIFIED)
_LOCKED: Final = "locked_messages"
"""Key in `Session.info`: message rows read for update in the session's transaction, by id."""


def classify_context(settings: Settings, services: Services | None = None) -> ClassifyContext:
    """The classification context from configuration (thread facts are added per message)."""
    org, phrases = settings.organisation, settings.classification
    return ClassifyContext(
        mailbox_addresses=org.all_mailbox_addresses(),
        staff_domains=frozenset(d.lower() for d in org.staff_domains),
        staff_addresses=frozenset(a.lower() for a in org.staff_addresses),
        find_references=services.codec.find if services else (lambda _t: []),
        noreply_patterns=tuple(settings.replies.noreply_patterns),
        extra_review_phrases=tuple(phrases.extra_review_phrases),
        extra_auto_reply_phrases=tuple(phrases.extra_auto_reply_phrases),
        extra_not_foi_phrases=tuple(phrases.extra_not_foi_phrases),
        extra_environmental_phrases=tuple(phrases.extra_environmental_phrases),
        regulator_domains=tuple(d.lower() for d in org.regulator_domains),
    )


@dataclass
class Pipeline:
    """Processes stored messages; built once by the composition root."""

    factory: sessionmaker[Session]
    services: Services
    clock: Clock
    base_context: ClassifyContext
    # Messages this process stored and has not yet tried. Their first try costs no commit of
    # its own: its attempt is written with its outcome. Any other pending message is counted
    # in a commit of its own before it is tried, so a message that keeps killing the process
    # is handed to a person after MAX_ATTEMPTS counted tries (one uncounted try before them,
    # if the process that stored it died on it). A message merely stored by a process that
    # died is never blamed.
    fresh: set[int] = field(default_factory=set)
    # Where a message's outcome is written. On SQLite, commits that survive a kill but skip
    # the fsync: the raw message is already durable, and nothing leaves the building before
    # the outbox's fully durable claim, which makes every earlier commit durable with it.
    quick_factory: sessionmaker[Session] | None = None
    # Parses a backlog's next messages in a second process (see `parse_ahead`).
    ahead: ParseAhead | None = None

    @property
    def writes(self) -> sessionmaker[Session]:
        """Where a message's outcome is written (see `quick_factory`)."""
        return self.quick_factory or self.factory

    def note_stored(self, message_pk: int) -> None:
        """Tell the pipeline this process just stored the message (its first try is free)."""
        self.fresh.add(message_pk)

    def pending(self, limit: int = 500, *, untried: bool = False) -> list[int]:
        """Stored messages not yet applied, oldest first; those with failed tries last
        (`untried`: left out).

        A message in hand when the process died is tried again after the others: the first
        message after a restart is the one most often in hand at a second kill, and only a
        message that really kills the process should be handed to a person for it.
        """
        with session_scope(self.factory) as session:
            stmt = (
                select(InboundMessage.id)
                .where(InboundMessage.status.in_(PENDING))
                .order_by(InboundMessage.attempts, InboundMessage.arrived_at, InboundMessage.id)
                .limit(limit)
            )
            if untried:
                stmt = stmt.where(InboundMessage.attempts == 0)
            return list(session.scalars(stmt))

    def process(self, message_pk: int, parsed: ParsedMail | None = None) -> str | None:
        """Run one message to `applied` (or `needs_attention`); returns its kind.

        `parsed` is the message parsed already (ahead, elsewhere); else it is parsed here.
        """
        with structlog.contextvars.bound_contextvars(message_pk=message_pk):
            try:
                return self._process(message_pk, parsed)
            except Exception as exc:  # one bad message must never stop the loop
                if _database_unavailable(exc):
                    # Not the message's fault: the next pass counts no attempt for it.
                    self.fresh.add(message_pk)
                    raise
                self._failed(message_pk, exc)
                return None

    def _count_attempt(self, message_pk: int) -> None:
        if message_pk in self.fresh:
            self.fresh.discard(message_pk)
            return
        with session_scope(self.writes) as session:
            row = session.get(InboundMessage, message_pk)
            if row is not None and row.status in PENDING:
                row.attempts += 1

    def _process(self, message_pk: int, parsed: ParsedMail | None) -> str | None:
        self._count_attempt(message_pk)
        with session_scope(self.writes) as session:
            done = self.apply_one(session, message_pk, parsed)
        return log_done(done)

    def apply_one(
        self, session: Session, message_pk: int, parsed: ParsedMail | None
    ) -> Done | None:
        """Take one pending message to its outcome in `session`; None if it was not pending."""
        with session.no_autoflush:  # earlier messages' changes are written when they matter
            row = _locked_row(session, message_pk)
        if row is None or row.status not in PENDING:
            return None
        if row.attempts > MAX_ATTEMPTS:
            _give_up(row, row.last_error or "failed repeatedly")
            return None
        if _is_our_own(session, row):
            # Our acknowledgement's copy in the Sent folder, or our mail looping back:
            # known by the Message-ID we minted, so not even parsed.
            row.kind, row.rule = Kind.AUTO_REPLY.value, "our_own_message"
            row.reasons = ["its Message-ID is one we minted for our own outgoing mail"]
            row.status, row.effect = MessageStatus.APPLIED, "our own message; nothing to do"
            return Done(message_pk, row.kind)
        mail = parsed if parsed is not None else parse(_raw_of(session, message_pk) or b"")
        if earlier_changes_matter(session, row, mail):
            session.flush()
        # Deciding reads other rows only: this row's changes wait to go in one UPDATE.
        with session.no_autoflush:
            verdict, match, duplicate = self._decide(session, row, mail)
        if duplicate:
            row.status, row.effect = MessageStatus.DUPLICATE, "second copy of a message"
            return Done(message_pk, verdict.kind.value)
        outcome = apply(session, self.services, row, mail, verdict, match, self.clock.now())
        _record_outcome(row, outcome, self.clock.now())
        row.attempts = max(row.attempts, 1)
        ref = outcome.case.reference if outcome.case else None
        return Done(message_pk, verdict.kind.value, verdict.rule, ref, row.needs_person, True)

    def _decide(
        self, session: Session, row: InboundMessage, mail: ParsedMail
    ) -> tuple[Classification, Match, bool]:
        """Thread, classification and match recorded on the row; True if a second copy."""
        _record_parse(row, mail)
        staff = self._is_staff(mail, row)
        thread = find_thread(session, mail, staff=staff)
        ctx = self._context(row, thread.case.reference if thread.case else None,
                            bool(thread.case and thread.case.is_review))
        ctx = replace(ctx, sender_open_cases=sender_open_cases(session, mail, thread, staff=staff))
        verdict = classify(mail, ctx)
        _record_verdict(row, verdict)
        match = resolve(session, mail, thread, verdict, staff=verdict.kind is Kind.STAFF)
        match = refine_match(session, mail, verdict, match)
        return verdict, match, _duplicate_of_applied(session, row, mail)

    def _is_staff(self, mail: ParsedMail, row: InboundMessage) -> bool:
        if row.direction == "sent" or mail.from_addr is None:
            return True
        ctx = self.base_context
        return mail.from_addr.email in ctx.staff_addresses or mail.from_addr.domain in (
            ctx.staff_domains
        )

    def _context(
        self, row: InboundMessage, thread_case: str | None, review: bool
    ) -> ClassifyContext:
        from dataclasses import replace

        return replace(
            self.base_context,
            thread_case=thread_case,
            thread_case_is_review=review,
            from_sent_folder=row.direction == "sent",
        )

    def _failed(self, message_pk: int, exc: Exception) -> None:
        error = f"{exc.__class__.__name__}: {exc}"[:2000]
        # The class only: exception text can quote headers or SQL parameters (applicant data);
        # the full error is stored on the message for a person to read.
        log.error("message.failed", error_type=exc.__class__.__name__)
        with session_scope(self.writes) as session:
            row = session.get(InboundMessage, message_pk)
            if row is None:
                return
            row.last_error = error
            # A first try by the process that stored the message was not counted beforehand.
            row.attempts = max(row.attempts, 1)
            if row.attempts >= MAX_ATTEMPTS:
                _give_up(row, error)

    def run_pending(
        self,
        limit: int = 500,
        stop: Callable[[], bool] | None = None,
        between: Callable[[], Sequence[int]] | None = None,
        *,
        untried: bool = False,
    ) -> int:
        """Process every pending message once (until `stop`); returns how many were looked at.

        Messages this process stored are applied `GROUP` to a commit: a backlog pays one
        commit per group, not one per message. A group that fails is rolled back and its
        messages are tried again one by one, so one bad message costs the others nothing.
        `between` is called after each group's commit (the daemon stores more mail there); the
        messages it returns are processed in this pass too. `untried` leaves out messages that
        have failed a try (see `pending`).
        """
        ids = self.pending(limit, untried=untried)

        def more() -> None:
            if between is not None:
                ids.extend(between())  # the loops below read `ids` as it grows

        if self.ahead is None or not self.ahead.wanted(len(ids)):
            parsed: Generator[tuple[int, ParsedMail | None], None, None] = (
                (pk, None) for pk in ids
            )
        else:
            parsed = self.ahead.parsed(ids, self._raw)
        group = Group(self, more, ids)
        with closing(parsed):
            for message_pk, mail in parsed:
                group.add(message_pk, mail)
                if stop is not None and stop():
                    break
        group.commit()
        if self.ahead is not None and len(ids) < limit:
            self.ahead.close()  # the backlog is done: no idle second process
        return len(ids)

    @staticmethod
    def load_rows(session: Session, ids: Sequence[int]) -> None:
        """Read (and on PostgreSQL lock) the rows of messages about to be applied in `session`,
        in one query: `apply_one` then finds each in the session instead of asking again."""
        if not ids:
            return
        with session.no_autoflush:
            stmt = select(InboundMessage).where(InboundMessage.id.in_(ids)).with_for_update()
            rows = session.scalars(stmt).all()
        # Held here: the session itself keeps only weak references to unchanged rows.
        session.info.setdefault(_LOCKED, {}).update((row.id, row) for row in rows)

    def _raw(self, message_pk: int) -> bytes | None:
        with self.factory() as session:  # a read: nothing to commit
            return _raw_of(session, message_pk)

    def close(self) -> None:
        """Stop the parsing worker, if one runs."""
        if self.ahead is not None:
            self.ahead.close()


def _locked_row(session: Session, message_pk: int) -> InboundMessage | None:
    """The message's row, locked for this transaction (read by `load_rows` or now)."""
    loaded: InboundMessage | None = session.info.get(_LOCKED, {}).get(message_pk)
    if loaded is not None:
        return loaded
    return session.get(InboundMessage, message_pk, with_for_update=True)


def _raw_of(session: Session, message_pk: int) -> bytes | None:
    """A stored message's bytes (None once purged), read without keeping them in the session.

    Read as Core: stored bytes never change, so the session's changes need not be written
    first (as the ORM would)."""
    raw: bytes | None = session.connection().execute(
        select(RawMessage.raw).where(RawMessage.message_pk == message_pk)
    ).scalar()
    return raw


def _database_unavailable(exc: Exception) -> bool:
    """True when the database itself failed: connection lost, disk full, out of resources."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    sqlite_code = getattr(exc.orig, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int):
        return (sqlite_code & 0xFF) in _SQLITE_UNAVAILABLE  # extended codes keep the primary low
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate.startswith(_SQLSTATES_UNAVAILABLE)


def _give_up(row: InboundMessage, error: str) -> None:
    row.status = MessageStatus.NEEDS_ATTENTION
    row.needs_person = True
    row.attention_reason = f"could not be processed after {row.attempts} attempts: {error}"
    log.error("message.needs_attention", attempts=row.attempts)


def _record_parse(row: InboundMessage, mail: ParsedMail) -> None:
    row.subject = mail.subject[:2000]
    row.from_email = mail.from_addr.email if mail.from_addr else None
    row.from_name = mail.from_addr.name[:500] if mail.from_addr else None
    row.defects = list(mail.defects)
    if row.message_id is None and mail.message_id:
        row.message_id = mail.message_id[:990]
    row.status = MessageStatus.PARSED


def _record_verdict(row: InboundMessage, verdict: Classification) -> None:
    row.kind, row.rule = verdict.kind.value, verdict.rule
    row.reasons, row.misses = list(verdict.reasons), list(verdict.misses)
    row.flags = list(verdict.flags)
    row.status = MessageStatus.CLASSIFIED


def _record_outcome(row: InboundMessage, outcome: Outcome, now: datetime) -> None:
    row.effect = outcome.effect
    row.status = MessageStatus.APPLIED
    if outcome.attention:
        row.needs_person = True
        row.attention_reason = "; ".join(outcome.attention)


# Look-ups made for every message, built once and run on the session's connection as Core
# (several times cheaper than through the ORM). They read written rows only: a group writes
# earlier messages' changes first when they could matter (`groups.earlier_changes_matter`).
_OWN_MESSAGE_ID = (
    select(OutboxMessage.id).where(OutboxMessage.message_id == bindparam("message_id")).limit(1)
)
# Only the Message-ID is in the WHERE clause: with the status there too, SQLite picks the status
# index and visits every applied message for each new one (quadratic in a backlog).
_SAME_MESSAGE_ID = select(InboundMessage.status, InboundMessage.from_email).where(
    InboundMessage.message_id == bindparam("message_id"),
    InboundMessage.id != bindparam("message_pk"),
)


def _is_our_own(session: Session, row: InboundMessage) -> bool:
    """True when the message is one we sent (matched on the Message-ID we minted)."""
    if not row.message_id or not could_be_minted(row.message_id):
        return False  # every outgoing row's Message-ID was minted (`enqueue` refuses others)
    if any(queued.message_id == row.message_id for queued in unwritten(session, OutboxMessage)):
        return True  # queued in this transaction, not yet written
    found = session.connection().execute(_OWN_MESSAGE_ID, {"message_id": row.message_id})
    return found.first() is not None


def _duplicate_of_applied(session: Session, row: InboundMessage, mail: ParsedMail) -> bool:
    """A message with the same Message-ID and sender already applied (re-delivered, re-encoded)."""
    if not row.message_id:
        return False
    same = session.connection().execute(
        _SAME_MESSAGE_ID, {"message_id": row.message_id, "message_pk": row.id}
    )
    return any(
        status == MessageStatus.APPLIED and from_email == row.from_email
        for status, from_email in same
    )


__all__ = ["MAX_ATTEMPTS", "Match", "Pipeline", "classify_context"]
