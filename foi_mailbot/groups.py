"""Messages of a backlog applied in one transaction: one commit per group, not per message.

Only messages this process stored go in a group (their first try is not counted beforehand);
any other message is committed alone, its attempt counted first (see `Pipeline`). A group that
fails is rolled back and its messages are tried again one by one, where a failure is recorded
against its own message only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import structlog
from sqlalchemy.orm import Session

from foi_mailbot.parsing.parsed import ParsedMail
from foi_mailbot.storage.db import unwritten
from foi_mailbot.storage.models import Case, InboundMessage, OutboxMessage

if TYPE_CHECKING:
    from foi_mailbot.pipeline import Pipeline

log = structlog.get_logger("foi_mailbot.pipeline")  # the pipeline's own events

GROUP: Final = 20
"""Messages of a backlog applied in one transaction."""


@dataclass(frozen=True)
class Done:
    """What became of one message, for the log line written once it is committed."""

    message_pk: int
    kind: str | None
    rule: str | None = None
    case_ref: str | None = None
    needs_person: bool = False
    applied: bool = False


def log_done(done: Done | None) -> str | None:
    """Log a committed message's outcome; returns its kind."""
    if done is None:
        return None
    if done.applied:
        log.info("message.applied", message_pk=done.message_pk, kind=done.kind, rule=done.rule,
                 case_ref=done.case_ref, needs_person=done.needs_person)
    return done.kind


def earlier_changes_matter(session: Session, row: InboundMessage, mail: ParsedMail) -> bool:
    """True when changes of earlier messages in this transaction, not yet written, could
    change what this message's look-ups find (they read written rows only).

    A group writes its messages' changes together at its commit, in one statement a table, and
    writes them early only for a message that could read them: a reply to a message applied
    or queued in the group (its thread look-up reads that message's case), a message from the
    applicant of a case opened in the group, or a second copy of one of its messages. (A reply
    of the group coming back is known before this, by `Pipeline`'s own look at the replies not
    yet written.)
    """
    changed = [*session.new, *session.dirty]
    if not changed:
        return False
    senders = {a.email for a in (mail.from_addr, *mail.reply_to) if a is not None}
    if any(case.applicant_email in senders for case in unwritten(session, Case)):
        return True
    # The messages it replies to (its thread is theirs), and itself (a second copy).
    wanted = {*mail.thread_ids, *([row.message_id] if row.message_id else [])}
    return any(
        isinstance(other, InboundMessage | OutboxMessage) and other is not row
        and other.message_id in wanted
        for other in changed
    )


@dataclass
class Group:
    """Messages applied in one open transaction, committed together."""

    pipeline: Pipeline
    between: Callable[[], None] | None = None
    upcoming: Sequence[int] = ()
    """The ids `add` is called with, in order (a group's rows are read in one query)."""
    session: Session | None = None
    items: list[tuple[int, ParsedMail | None]] = field(default_factory=list)
    done: list[Done | None] = field(default_factory=list)
    _added: int = 0

    def add(self, message_pk: int, parsed: ParsedMail | None) -> None:
        """Apply a message in the group, or alone when its attempt must be counted first."""
        pipeline = self.pipeline
        self._added += 1
        if message_pk not in pipeline.fresh:
            self.commit()
            pipeline.process(message_pk, parsed)
            return
        if self.session is None:
            self.session = pipeline.writes()
            ahead = self.upcoming[self._added - 1 : self._added - 1 + GROUP]
            pipeline.load_rows(self.session, [pk for pk in ahead if pk in pipeline.fresh])
        self.items.append((message_pk, parsed))
        try:
            with structlog.contextvars.bound_contextvars(message_pk=message_pk):
                # Written at the commit, or earlier if a later message could read them.
                self.done.append(pipeline.apply_one(self.session, message_pk, parsed))
        except Exception:  # noqa: BLE001 - each is tried alone, where its failure is recorded
            self._one_by_one()
            return
        if len(self.items) >= GROUP:
            self.commit()

    def commit(self) -> None:
        """Commit the group; on failure, try its messages again one by one."""
        if self.session is None:
            return
        try:
            self.session.commit()
        except Exception:  # noqa: BLE001 - each is tried alone, where its failure is recorded
            self._one_by_one()
            return
        self.session.close()
        for (message_pk, _), done in zip(self.items, self.done, strict=True):
            self.pipeline.fresh.discard(message_pk)  # its try is over
            log_done(done)
        self._reset()
        if self.between is not None:
            self.between()

    def _one_by_one(self) -> None:
        items, session = self.items, self.session
        self._reset()
        if session is not None:
            try:
                session.rollback()
            finally:
                session.close()
        for message_pk, parsed in items:
            self.pipeline.process(message_pk, parsed)

    def _reset(self) -> None:
        self.session, self.items, self.done = None, [], []
