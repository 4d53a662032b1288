"""Stored messages taken to their outcome, one transaction each.

`Pipeline.process` is the message path: own mail? -> thread -> classify -> match ->
duplicate? -> apply. `Pipeline.run_one` wraps it in the attempt discipline of `attempts`
(claim, then the work in a transaction of its own, then failed or released). Nothing here loops
over time or sleeps: the daemon does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property

import structlog
from sqlalchemy.orm import Session, sessionmaker

from foi_mailbot import attempts
from foi_mailbot.cases.follow_up_match import refine_match, sender_open_cases
from foi_mailbot.cases.matching import Match, Thread, find_thread, resolve
from foi_mailbot.cases.senders import TrustPolicy, dmarc_verdict, is_staff_address
from foi_mailbot.cases.service import Outcome, Services, apply
from foi_mailbot.classify import classify
from foi_mailbot.classify.base import Classification, ClassifyContext, Kind
from foi_mailbot.clock import Clock
from foi_mailbot.outbound.compose import could_be_minted
from foi_mailbot.parsing import parse
from foi_mailbot.parsing.parsed import ParsedMail
from foi_mailbot.parsing.pool import ParsePool
from foi_mailbot.settings import Settings
from foi_mailbot.storage import queries
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import InboundMessage, MessageStatus
from foi_mailbot.triage import route as triage_route

log = structlog.get_logger(__name__)

MAX_ATTEMPTS = attempts.MAX_ATTEMPTS


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
    # The message this process claimed and has not finished: released, uncounted, if the
    # database failed under it.
    _in_hand: int | None = field(default=None, init=False, repr=False)

    @cached_property
    def trust(self) -> TrustPolicy:
        """Who is staff and which authentication header is believed (`cases.senders`)."""
        return self.base_context.trust

    @property
    def writes(self) -> sessionmaker[Session]:
        """Where a message's claim and outcome are written (see `quick_factory`)."""
        return self.quick_factory or self.factory

    def pending(self, limit: int | None = None) -> list[int]:
        """Messages to take up, in the order they are taken (see `queries.pending_messages`)."""
        with session_scope(self.factory) as session:
            return queries.pending_messages(session, limit)

    def run_pending(self, stop: Callable[[], bool] | None = None) -> int:
        """Take every pending message once, in order, until `stop`; returns how many there
        were. A message that fails waits for the next pass."""
        self._release_in_hand()
        ids = self.pending()
        parsed = self.pool.parsed(ids, self._raw) if self.pool else ((pk, None) for pk in ids)
        try:
            for message_pk, mail in parsed:
                self.run_one(message_pk, mail)
                if stop is not None and stop():
                    break
        finally:
            if self.pool is not None:
                self.pool.close()  # the backlog is done (or cut short): no idle second process
        return len(ids)

    def run_one(self, message_pk: int, parsed: ParsedMail | None = None) -> str | None:
        """Claim one message, take it to its outcome and commit; returns its kind (None if it
        failed or was not there to take). `parsed`: the message parsed already, elsewhere."""
        with structlog.contextvars.bound_contextvars(message_pk=message_pk), \
                self.writes() as session:
            row = attempts.claim(session, message_pk)
            if row is None:
                return None
            self._in_hand = message_pk
            try:
                # The claim's commit made the row ours: the work is a transaction of its own
                # in the same session, on the row as the claim left it.
                done = self.process(session, row, parsed)
                session.commit()
            except Exception as exc:  # one bad message must never stop the loop
                session.rollback()
                if attempts.database_unavailable(exc):
                    self._release_in_hand()  # not the message's fault
                    raise
                attempts.failed(self.writes, message_pk, exc)
                self._in_hand = None
                return None
            self._in_hand = None
        if done is not None:
            log.info("message.applied", message_pk=message_pk, kind=done.kind, rule=done.rule,
                     case_ref=done.case_ref, needs_person=done.needs_person)
            return done.kind
        return None

    def process(self, session: Session, row: InboundMessage, parsed: ParsedMail | None) -> Done:
        """The message path, in `session`: own mail? -> a command settling a triage item? ->
        thread -> classify -> match -> duplicate? -> apply. Records what it found on `row`;
        `parsed`: parsed already."""
        if row.message_id and could_be_minted(row.message_id) and (
            queries.is_our_message_id(session, row.message_id)
        ):
            # Our acknowledgement's copy in the Sent folder, or our mail looping back:
            # known by the Message-ID we minted, so not even parsed.
            _record_own(row)
            return Done(row.kind, row.rule)
        mail = parsed if parsed is not None else parse(
            queries.raw_of(session, row.id) or b"",
            max_bytes=self.services.settings.mailbox.max_message_bytes)
        if (incoming := triage_route.command_in(session, row, mail, self.base_context)) is not None:
            return self._settle(session, row, mail, incoming)
        staff = self._is_staff(mail, row)
        thread = find_thread(session, mail, staff=staff)
        verdict = classify(mail, self._context(session, row, mail, thread, staff=staff))
        match = resolve(session, mail, thread, verdict, staff=verdict.kind is Kind.STAFF,
                        dmarc=dmarc_verdict(mail, self.trust))
        match = refine_match(session, mail, verdict, match)  # a follow-up's likely case
        # The row is written to after the look-ups, so that none of them has to write it first.
        duplicate = queries.same_message_applied(session, row.id, _message_id(row, mail),
                                                 mail.from_addr.email if mail.from_addr else None)
        _record_parse(row, mail)
        _record_verdict(row, verdict)
        if duplicate:
            row.status, row.effect = MessageStatus.DUPLICATE, "second copy of a message"
            return Done(row.kind, row.rule)
        outcome = apply(session, self.services, row, mail, verdict, match, self.clock.now())
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

    def _context(
        self, session: Session, row: InboundMessage, mail: ParsedMail, thread: Thread, *,
        staff: bool,
    ) -> ClassifyContext:
        """What classification is told besides the message: its thread, its folder, and the
        sender's open cases (a reply-shaped message from them is never a second request)."""
        return replace(
            self.base_context,
            thread_case=thread.case.reference if thread.case else None,
            thread_case_is_review=bool(thread.case and thread.case.is_review),
            from_sent_folder=row.direction == "sent",
            sender_open_cases=sender_open_cases(session, mail, thread, staff=staff),
        )

    def _release_in_hand(self) -> None:
        if self._in_hand is not None:
            attempts.release(self.writes, self._in_hand)
            self._in_hand = None

    def _raw(self, message_pk: int) -> bytes | None:
        with self.factory() as session:  # a read: nothing to commit
            return queries.raw_of(session, message_pk)

    def close(self) -> None:
        """Stop the parsing process, if one runs."""
        if self.pool is not None:
            self.pool.close()


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
