"""`once --dry-run`: what the service would do with the mail waiting, doing none of it.

Everything waiting is fetched (IMAP with BODY.PEEK, so not even the \\Seen flag changes) and
taken through the same stages as live mail (store, parse, classify, match, apply, queue the
letters) in one database transaction that is rolled back at the end. Nothing is marked done at
the source, no checkpoint or start point is written, and nothing is sent: the outbox rows the
stages queued are read before the rollback and printed as the letters that would go.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from foi_mailbot.bootstrap import App, build
from foi_mailbot.clock import Clock
from foi_mailbot.ingest import store_raw
from foi_mailbot.settings import Settings
from foi_mailbot.sources import CheckpointStore, MailSource, RawMail
from foi_mailbot.sources.start import Start, StartPoint
from foi_mailbot.storage.models import Case, InboundMessage, OutboxMessage
from foi_mailbot.storage.state import DbCheckpoints


class KeptCheckpoints:
    """See `CheckpointStore`: reads the stored checkpoints, keeps new ones in memory only."""

    def __init__(self, stored: CheckpointStore) -> None:
        self._stored = stored
        self._kept: dict[tuple[str, str], tuple[int, int]] = {}

    def get(self, mailbox: str, folder: str) -> tuple[int, int] | None:
        """See `CheckpointStore.get`."""
        return self._kept.get((mailbox, folder)) or self._stored.get(mailbox, folder)

    def set(self, mailbox: str, folder: str, uidvalidity: int, last_uid: int) -> None:
        """See `CheckpointStore.set`: remembered for this run only."""
        self._kept[(mailbox, folder)] = (uidvalidity, last_uid)


@dataclass(frozen=True)
class KeptStartPoint(StartPoint):
    """See `StartPoint`: a start met for the first time is kept in memory, not recorded."""

    kept: dict[tuple[str, str], Start] = field(default_factory=dict)

    def load(self, mailbox: str, folder: str) -> Start | None:
        """See `StartPoint.load`."""
        return self.kept.get((mailbox, folder)) or super().load(mailbox, folder)

    def save(self, mailbox: str, folder: str, start: Start) -> None:
        """See `StartPoint.save`: for this run only."""
        self.kept[(mailbox, folder)] = start

    def history(self) -> int:
        """Messages that a first start would leave (or import) as history."""
        return sum(len(s.header_hashes) or len(s.keys) for s in self.kept.values())


def dry_source(
    settings: Settings, factory: sessionmaker[Session], clock: Clock, start: KeptStartPoint
) -> MailSource:
    """The configured mailbox, read without writing anything anywhere."""
    box = settings.mailbox
    if box.uses_imap():
        from foi_mailbot.sources.imap import ImapSource
        from foi_mailbot.sources.tokens import provider_from_settings

        tokens = provider_from_settings(box) if box.auth == "xoauth2" else None
        return ImapSource(box, KeptCheckpoints(DbCheckpoints(factory)), token_provider=tokens,
                          clock=clock, start=start)
    from foi_mailbot.sources.maildir import MaildirSource

    path = box.maildir or settings.paths.data_dir / "maildir"
    return MaildirSource(path, settings.organisation.mailbox_address, clock, start=start)


def run_dry(settings: Settings, out: Callable[[str], None]) -> int:
    """Print what would be done with each waiting message; returns how many were decided."""
    app = build(settings)
    start = KeptStartPoint(app.factory, app.clock, settings.mailbox.start)
    source = dry_source(settings, app.factory, app.clock, start)
    try:
        with app.factory() as session:
            try:
                decided = _decide_all(app, session, source.fetch_new(), out)
            finally:
                session.rollback()
    finally:
        source.close()
        app.close()
    if start.history():
        out(f"{start.history()} messages already in the mailbox would be taken as history "
            f"(start = \"{settings.mailbox.start}\").")
    out(f"Dry run: {decided} messages decided; nothing was stored, sent or moved.")
    return decided


def _decide_all(app: App, session: Session, mails: Any, out: Callable[[str], None]) -> int:
    decided = 0
    for mail in mails:
        decided += 1
        out(_decide(app, session, mail))
    return decided


def _decide(app: App, session: Session, mail: RawMail) -> str:
    """One message through the stages in `session`; its decision in one line."""
    where = f"{mail.folder} {mail.uid}" if mail.uid is not None else mail.source_key
    stored = store_raw(session, mail, now_clock=app.clock)
    if not stored.created:
        return f"message {where}: already stored; nothing to do"
    row = session.get(InboundMessage, stored.message_pk)
    if row is None:  # pragma: no cover - stored above in this transaction
        return f"message {where}: not found"
    app.pipeline.process(session, row, None)
    session.flush()
    case = session.get(Case, row.case_id) if row.case_id else None
    letters = session.scalars(
        select(OutboxMessage).where(OutboxMessage.caused_by == row.id)).all()
    parts = [f"message {where} from {row.from_email or '(no sender)'}:",
             f"{row.kind} ({row.rule})", f"-> {row.effect}"]
    if case is not None:
        parts.append(f"[case {case.reference}, {case.status}, due {case.due_on}]")
    parts += [f"[letter: {letter.purpose} to {letter.to_email}]" for letter in letters]
    if row.needs_person:
        parts.append(f"[flagged: {row.attention_reason}]")
    if row.history:
        parts.append("[history]")
    return " ".join(parts)
