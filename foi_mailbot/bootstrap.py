"""The composition root: settings -> logging -> database -> sources, transport, templates -> App.

The only place concrete classes are chosen; the daemon, the CLI and the jobs receive what they
need from here and reach for no globals.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from foi_mailbot.cases.reference import ReferenceCodec
from foi_mailbot.cases.register import Calendars
from foi_mailbot.cases.service import Services
from foi_mailbot.clock import Clock, SystemClock, local_date
from foi_mailbot.deadlines.laws import Law
from foi_mailbot.deadlines.statutory import ClockPolicy
from foi_mailbot.outbound.acks import Acknowledger
from foi_mailbot.outbound.enqueueing import RetryPolicy
from foi_mailbot.outbound.journal import SentJournal
from foi_mailbot.outbound.outbox import Outbox
from foi_mailbot.outbound.render import check_templates, make_environment
from foi_mailbot.outbound.transport import Transport, make_transport
from foi_mailbot.parse_ahead import ParseAhead
from foi_mailbot.pipeline import Pipeline, classify_context
from foi_mailbot.settings import Settings
from foi_mailbot.sources import MailSource
from foi_mailbot.storage.checkpoint import FALLBACK_PAGES, Checkpointer
from foi_mailbot.storage.db import make_engine, make_session_factory, sqlite_file, upgrade
from foi_mailbot.storage.state import DbCheckpoints

if TYPE_CHECKING:
    from foi_mailbot.oauth import CachedTokens
    from foi_mailbot.sources.imap import ImapSource
    from foi_mailbot.sources.tokens import TokenProvider


def clock_policy(settings: Settings) -> ClockPolicy:
    """The statutory clock's options from configuration."""
    clock = settings.clock
    return ClockPolicy(
        receipt_on_non_working_day=clock.receipt_on_non_working_day,
        foisa_fees_notice_day=clock.foisa_fees_notice_day,
        sar_holiday_region=clock.sar_holiday_region,
        clarification_closure_months=clock.clarification_closure_months,
        extra_holidays=tuple(
            (h.date, h.name, frozenset(h.regions)) for h in clock.extra_holidays
        ),
    )


def reference_codec(settings: Settings) -> ReferenceCodec:
    """The reference codec for this organisation."""
    org = settings.organisation
    return ReferenceCodec(org.reference_prefix, org.reference_secret.get_secret_value())


@dataclass
class App:
    """Everything built from one Settings object."""

    settings: Settings
    clock: Clock
    engine: Engine
    factory: sessionmaker[Session]
    services: Services
    pipeline: Pipeline
    transport: Transport
    outbox: Outbox
    source: MailSource | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    quick_engine: Engine | None = None
    checkpointer: Checkpointer | None = None
    # Held by the mail loop for a whole cycle, and by the scheduler's outbox sweep, which
    # skips its turn while the loop is busy: the loop sends at the end of every cycle, and two
    # threads writing at once only make each other wait on the database.
    mail_lock: threading.Lock = field(default_factory=threading.Lock)
    # The shared OAuth2 token source (`[oauth]`), watched by the daemon for health and alerts.
    oauth: CachedTokens | None = None

    def warm_up(self) -> None:
        """Build the working-day calendars and compile the templates before any mail is handled.

        Both are lazy and cost about a second together. Paid inside the first message's
        transaction, that second holds SQLite's write lock and widens the window in which a
        restart loop (`kill -9`, OOM) would be blamed on an innocent message.
        """
        today = local_date(self.clock.now())
        for law in Law:
            self.services.calendars.for_law(law).fingerprint(today=today)
        check_templates(self.services.acks.env)

    def close(self) -> None:
        """Release connections."""
        self.outbox.close()  # first: its last Sent copies use the mailbox's connection
        if self.source is not None:
            self.source.close()
        self.pipeline.close()
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.engine.dispose()
        if self.quick_engine is not None:
            self.quick_engine.dispose()


def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    migrate: bool = True,
    with_source: bool = False,
    transport: Transport | None = None,
) -> App:
    """Build the application; `with_source` connects the mailbox (the daemon wants it)."""
    clock = clock or SystemClock()
    url = settings.database.resolved_url(settings.paths)
    database = sqlite_file(url)
    # The daemon copies SQLite's log back into the database from a thread of its own.
    checkpointer = Checkpointer(database) if with_source and database is not None else None
    pages = FALLBACK_PAGES if checkpointer is not None else 1000
    engine = make_engine(url, autocheckpoint=pages)
    if migrate:
        upgrade(engine)
    factory = make_session_factory(engine)
    # A second engine on the same file (an in-memory database would be a different one).
    quick_engine = make_engine(url, fsync=False, autocheckpoint=pages) if database else None
    env = make_environment(settings.paths.template_dir)
    services = Services(
        settings=settings,
        codec=reference_codec(settings),
        calendars=Calendars(clock_policy(settings)),
        acks=Acknowledger(settings=settings, env=env),
    )
    quick_factory = make_session_factory(quick_engine) if quick_engine else None
    # On a SQLite file the worker reads the stored messages there itself.
    ahead = ParseAhead(database=database) if settings.pipeline.parse_worker else None
    pipeline = Pipeline(factory, services, clock, classify_context(settings, services),
                        quick_factory=quick_factory, ahead=ahead)
    oauth, smtp_tokens = _token_providers(settings, clock)
    transport = transport or make_transport(settings, smtp_tokens)
    source = make_source(settings, factory, clock, oauth) if with_source else None
    outbox = Outbox(
        factory=factory,
        transport=transport,
        clock=clock,
        retry=RetryPolicy(give_up_after=_hours(settings.smtp.retry_for_hours)),
        quick_factory=quick_factory,
        journal=SentJournal(settings.paths.data_dir / "sent.journal"),
    )
    _wire_sent_folder(settings, outbox, source)
    if checkpointer is not None:
        for followed in (engine, quick_engine):
            if followed is not None:
                checkpointer.follow(followed)
        checkpointer.start()
    return App(settings, clock, engine, factory, services, pipeline, transport, outbox, source,
               quick_engine=quick_engine, checkpointer=checkpointer, oauth=oauth)


def _hours(value: float) -> Any:
    from datetime import timedelta

    return timedelta(hours=value)


def _token_providers(
    settings: Settings, clock: Clock
) -> tuple[CachedTokens | None, TokenProvider | None]:
    """The shared `[oauth]` token source, and SMTP's (its own command or file, or the shared)."""
    from foi_mailbot.oauth import shared_tokens, tokens_for
    from foi_mailbot.oauth.providers import uses_xoauth2

    if not uses_xoauth2(settings):
        return None, None
    shared = shared_tokens(settings, clock)
    smtp = settings.smtp
    sending = tokens_for(smtp, shared, "smtp") if smtp.host and smtp.auth == "xoauth2" else None
    return shared, sending


def make_source(
    settings: Settings,
    factory: sessionmaker[Session],
    clock: Clock,
    shared_tokens: TokenProvider | None = None,
) -> MailSource | None:
    """The configured mail source: IMAP, or the local Maildir (the embedded default)."""
    box = settings.mailbox
    if box.uses_imap():
        from foi_mailbot.oauth import tokens_for
        from foi_mailbot.sources.imap import ImapSource

        tokens = tokens_for(box, shared_tokens, "mailbox") if box.auth == "xoauth2" else None
        imap = ImapSource(box, DbCheckpoints(factory), token_provider=tokens, clock=clock)
        _watch_folders(imap, factory, clock)
        return imap
    from foi_mailbot.sources.maildir import MaildirSource

    path = box.maildir or settings.paths.data_dir / "maildir"
    return MaildirSource(path, settings.organisation.mailbox_address, clock)


def _watch_folders(imap: ImapSource, factory: sessionmaker[Session], clock: Clock) -> None:
    """What the source notices of its folders (Sent found by flag, a folder gone) goes to
    `status` and `/healthz`, starting afresh with each run."""
    from foi_mailbot.health import FOLDERS_STATE
    from foi_mailbot.storage.state import record

    def told(state: dict[str, Any]) -> None:
        record(factory, clock, FOLDERS_STATE, state)

    imap.folders.on_change = told
    told(imap.folders.as_state())


def _wire_sent_folder(settings: Settings, outbox: Outbox, source: MailSource | None) -> None:
    """With IMAP, copies go to Sent, and the Sent folder settles interrupted sends."""
    from foi_mailbot.sources.imap import ImapSource

    if not isinstance(source, ImapSource) or not settings.mailbox.sent_folder:
        return
    folder = settings.mailbox.sent_folder
    imap = source

    def check(message_id: str) -> bool | None:
        try:
            return imap.has_message_id(folder, message_id)
        except Exception:  # noqa: BLE001 - any failure means "cannot tell", which flags the row
            return None

    outbox.sent_checker = check
    imap.ours = outbox.own_message_ids
    if settings.smtp.append_to_sent:
        outbox.copy_to_sent = lambda raws: imap.append_many(folder, raws)
