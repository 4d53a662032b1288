"""Stored messages taken to their outcome, a savepoint each, a commit a batch.

`Pipeline.process` is the message path: own mail? -> thread -> classify -> match ->
duplicate? -> apply. `Pipeline.run_batch` wraps it in the attempt discipline of `attempts`
(claim the batch, then each message's work in a savepoint of its own, then one commit; a
failure is rolled back alone and counted). Nothing here loops over time or sleeps: the
daemon does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Final

import structlog
from sqlalchemy.orm import Session, sessionmaker

from foi_mailbot import attempts
from foi_mailbot.cases.follow_up_match import refine_match
from foi_mailbot.cases.matching import Match, Thread, find_thread, resolve
from foi_mailbot.cases.senders import TrustPolicy, dmarc_verdict, is_staff_address
from foi_mailbot.cases.service import Outcome, Services, apply
from foi_mailbot.classify import classify
from foi_mailbot.classify.base import Classification, ClassifyContext, Kind
from foi_mailbot.clock import Clock
from foi_mailbot.outbound.compose import could_be_minted
from foi_mailbot.parsing import parse
from foi_mailbot.parsing.parsed import ParsedMail
from foi_mailbot.parsing.pool import Ahead, ParsePool
from foi_mailbot.settings import Settings
from foi_mailbot.storage import queries
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import InboundMessage, MessageStatus
from foi_mailbot.stored import parse_stored
from foi_mailbot.triage import route as triage_route

log = structlog.get_logger(__name__)

MAX_ATTEMPTS = attempts.MAX_ATTEMPTS
BATCH: Final = 50
"""Never-tried messages claimed together and committed together, a savepoint each: one
commit a batch instead of two a message. A kill costs at most this many messages an attempt."""


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
        authserv_id=settings.mailbox.authserv_id,
        exchange_internal_marker=settings.mailbox.exchange_internal_marker,
        regulator_domains=tuple(d.lower() for d in org.regulator_domains),
    )


@dataclass(frozen=True)
class Done:
    """What became of one message, logged once it is committed."""

    kind: str | None
    rule: str | None = None
    case_ref: str | None = None
    needs_person: bool = False


@dataclass
class Pipeline:
    """Processes stored messages; built once by the composition root."""

    factory: sessionmaker[Session]
    services: Services
    clock: Clock
    base_context: ClassifyContext
    # Where a message's claim and outcome are written. On SQLite, commits that survive a kill
    # but skip the fsync: the raw message is already durable, and nothing leaves the building
    # before the outbox's fully durable claim, which makes every earlier commit durable with it.
    quick_factory: sessionmaker[Session] | None = None
    # Parses a backlog's next messages in a second process; None: every one in place.
    pool: ParsePool | None = None
    # The messages this process claimed and has not finished: released, uncounted, if the
    # database failed under them.
    _in_hand: list[int] = field(default_factory=list, init=False, repr=False)

    @cached_property
    def trust(self) -> TrustPolicy:
        """Who is staff and which authentication header is believed (`cases.senders`)."""
        return self.base_context.trust

    @property
    def _max_bytes(self) -> int:
        return self.services.settings.mailbox.max_message_bytes

    @property
    def writes(self) -> sessionmaker[Session]:
        """Where a message's claim and outcome are written (see `quick_factory`)."""
        return self.quick_factory or self.factory

    def pending(self, limit: int | None = None) -> list[queries.Pending]:
        """Messages to take up, in the order they are taken (see `queries.pending_messages`)."""
        with session_scope(self.factory) as session:
            return queries.pending_messages(session, limit)

    def run_pending(self, stop: Callable[[], bool] | None = None) -> int:
        """Take every pending message once, in order, a batch at a time, until `stop`;
        returns how many there were. A message that fails waits for the next pass."""
        self._release_in_hand()
        pending = self.pending()
        try:
            with queries.raw_reader(self.factory) as read:
                parsed = self._parsed_ahead(self.pool, pending, read) if self.pool else (
                    (message.pk, None) for message in pending)
                for batch in _batches(pending):
                    self.run_batch(batch, parsed)
                    if stop is not None and stop():
                        break
        finally:
            if self.pool is not None:
                self.pool.close()  # the backlog is done (or cut short): no idle second process
        return len(pending)

    def _parsed_ahead(
        self, pool: ParsePool, pending: list[queries.Pending],
        read: Callable[[int], bytes | None],
    ) -> Iterator[tuple[int, Ahead | None]]:
        """The messages parsed ahead in the parsing process, but for large ones (over its
        window in bytes, or over the size cap): those are parsed here, from the database, as
        the size cap says. Sent, they would be held twice over in both processes."""
        largest = min(pool.window_bytes, self._max_bytes)
        small = {message.pk for message in pending if message.size <= largest}
        return pool.parsed([message.pk for message in pending],
                           lambda pk: read(pk) if pk in small else None)

    def run_one(self, message_pk: int) -> str | None:
        """Take one message to its outcome; returns its kind (None if it failed or was not
        there to take)."""
        return self.run_batch([message_pk]).get(message_pk)

    def run_batch(
        self, message_pks: list[int],
        parsed: Iterator[tuple[int, Ahead | None]] | None = None,
    ) -> dict[int, str | None]:
        """Claim the messages in one commit, take each to its outcome in a savepoint of its
        own, and commit the outcomes together; returns each applied message's kind.
        `parsed`: the messages in the same order, each with its parsed form or None, taken one
        at a time as each is reached (a parse ahead runs while the one before is applied).

        A message's savepoint is its transaction as far as any look-up can tell: the next
        message sees everything it wrote. One that fails is rolled back alone and counted.
        """
        with self.writes() as session:
            rows = attempts.claim(session, message_pks)
            self._in_hand = list(rows)
            done: dict[int, Done] = {}
            try:
                for message_pk in message_pks:
                    mail = _parsed_next(parsed, message_pk)
                    if message_pk in rows and (
                        outcome := self._attempt(session, rows[message_pk], mail)
                    ):
                        done[message_pk] = outcome
                session.commit()
            except Exception:
                session.rollback()  # the database failed: not the messages' fault
                self._release_in_hand()
                raise
            self._in_hand = []
        for message_pk, outcome in done.items():
            log.info("message.applied", message_pk=message_pk, kind=outcome.kind,
                     rule=outcome.rule, case_ref=outcome.case_ref,
                     needs_person=outcome.needs_person)
        return {message_pk: outcome.kind for message_pk, outcome in done.items()}

    def _attempt(self, session: Session, row: InboundMessage,
                 parsed: Ahead | None) -> Done | None:
        """One message's work in a savepoint: its outcome, or None when it failed (recorded
        on its row). A failure of the database itself is raised."""
        with structlog.contextvars.bound_contextvars(message_pk=row.id):
            try:
                with session.begin_nested():
                    return self.process(session, row, parsed)
            except Exception as exc:  # one bad message must never stop the loop
                if attempts.database_unavailable(exc):
                    raise
                attempts.failed(row, exc)
                return None

    def process(self, session: Session, row: InboundMessage, parsed: Ahead | None) -> Done:
        """The message path, in `session`: own mail? -> a command settling a triage item? ->
        thread -> classify -> match -> duplicate? -> apply. Records what it found on `row`;
        `parsed`: parsed (and folded) already."""
        if row.message_id and could_be_minted(row.message_id) and (
            queries.is_our_message_id(session, row.message_id)
        ):
            # Our acknowledgement's copy in the Sent folder, or our mail looping back:
            # known by the Message-ID we minted, so not even parsed.
            _record_own(row)
            return Done(row.kind, row.rule)
        mail = parsed.mail if parsed is not None else (
            parse_stored(session, row, self._max_bytes) or parse(b""))
        if (incoming := triage_route.command_in(session, row, mail, self.base_context)) is not None:
            return self._settle(session, row, mail, incoming)
        staff = self._is_staff(mail, row)
        thread = find_thread(session, mail, staff=staff)
        verdict = classify(mail, self._context(row, thread),
                           parsed.folded if parsed is not None else None)
        match = resolve(session, mail, thread, verdict, staff=verdict.kind is Kind.STAFF,
                        dmarc=dmarc_verdict(mail, self.trust))
        match = refine_match(session, mail, verdict, match)  # a follow-up's likely case
        duplicate = queries.same_message_applied(session, row.id, _message_id(row, mail),
                                                 mail.from_addr.email if mail.from_addr else None)
        outcome = None if duplicate else apply(session, self.services, row, mail, verdict, match,
                                               self.clock.now())
        # The row is written to last: a look-up writes the transaction's changes first, and
        # every look-up (applying's too) would write the row again.
        _record_parse(row, mail)
        _record_verdict(row, verdict)
        if outcome is None:
            row.status, row.effect = MessageStatus.DUPLICATE, "second copy of a message"
            return Done(row.kind, row.rule)
        _record_outcome(row, outcome)
        ref = outcome.case.reference if outcome.case else None
        return Done(row.kind, row.rule, ref, row.needs_person)

    def _settle(self, session: Session, row: InboundMessage, mail: ParsedMail,
                incoming: triage_route.Incoming) -> Done:
        """A reply to a triage notice: applied to its item, or flagged (`triage.route`)."""
        _record_parse(row, mail)
        row.effect = triage_route.settle(session, self.services, row, mail, incoming,
                                         self.clock.now())
        row.status = MessageStatus.APPLIED
        return Done(row.kind, row.rule, None, row.needs_person)

    def _is_staff(self, mail: ParsedMail, row: InboundMessage) -> bool:
        # Mail with no usable From is never staff (`cases.senders`).
        return row.direction == "sent" or is_staff_address(mail.from_addr, self.trust)

    def _context(self, row: InboundMessage, thread: Thread) -> ClassifyContext:
        """What classification is told besides the message: its thread, its folder, and the
        sender's open cases (a reply-shaped message from them is never a second request)."""
        return replace(
            self.base_context,
            thread_case=thread.case.reference if thread.case else None,
            thread_case_is_review=bool(thread.case and thread.case.is_review),
            from_sent_folder=row.direction == "sent",
            sender_open_cases=thread.sender_open_cases,
        )

    def _release_in_hand(self) -> None:
        if self._in_hand:
            attempts.release(self.writes, self._in_hand)
            self._in_hand = []

    def close(self) -> None:
        """Stop the parsing process, if one runs."""
        if self.pool is not None:
            self.pool.close()


def _batches(pending: list[queries.Pending]) -> Iterator[list[int]]:
    """The messages in batches of up to `BATCH` never-tried ones; a message tried before
    (it failed, or was in hand when a process stopped) goes alone, so that a message that
    stops the process takes no other message's attempt with it."""
    batch: list[int] = []
    for message in pending:
        if message.attempts:
            if batch:
                yield batch
                batch = []
            yield [message.pk]
            continue
        batch.append(message.pk)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _parsed_next(
    parsed: Iterator[tuple[int, Ahead | None]] | None, message_pk: int,
) -> Ahead | None:
    """The next parsed message, which must be `message_pk`'s; None: parse it in place."""
    if parsed is None:
        return None
    parsed_pk, mail = next(parsed)
    if parsed_pk != message_pk:
        msg = f"parsed message {parsed_pk} arrived in place of {message_pk}"
        raise RuntimeError(msg)
    return mail


def _record_own(row: InboundMessage) -> None:
    row.kind, row.rule = Kind.AUTO_REPLY.value, "our_own_message"
    row.reasons = ["its Message-ID is one we minted for our own outgoing mail"]
    row.status, row.effect = MessageStatus.APPLIED, "our own message; nothing to do"


def _message_id(row: InboundMessage, mail: ParsedMail) -> str | None:
    """The message's Message-ID: as read when it was stored, else as parsed."""
    return row.message_id or (mail.message_id[:990] if mail.message_id else None)


def _record_parse(row: InboundMessage, mail: ParsedMail) -> None:
    row.subject = mail.subject[:2000]
    row.from_email = mail.from_addr.email if mail.from_addr else None
    row.from_name = mail.from_addr.name[:500] if mail.from_addr else None
    row.defects = list(mail.defects)
    row.message_id = _message_id(row, mail)


def _record_verdict(row: InboundMessage, verdict: Classification) -> None:
    row.kind, row.rule = verdict.kind.value, verdict.rule
    row.reasons, row.misses = list(verdict.reasons), list(verdict.misses)
    row.flags = list(verdict.flags)


def _record_outcome(row: InboundMessage, outcome: Outcome) -> None:
    row.effect = outcome.effect
    row.status = MessageStatus.APPLIED
    if outcome.attention:
        row.needs_person = True
        row.attention_reason = "; ".join(outcome.attention)


__all__ = ["MAX_ATTEMPTS", "Done", "Match", "Pipeline", "classify_context"]
