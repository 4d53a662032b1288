"""The composition root: settings -> logging -> database -> sources, transport, templates -> App.

The only place concrete classes are chosen; the daemon, the CLI and the jobs receive what they
need from here and reach for no globals.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from foi_mailbot.alerts import Alerter
from foi_mailbot.cases.reference import ReferenceCodec
from foi_mailbot.cases.register import Calendars
from foi_mailbot.cases.service import Services
from foi_mailbot.clock import Clock, SystemClock, local_date
from foi_mailbot.clock_policy import clock_policy
from foi_mailbot.deadlines.laws import Law
from foi_mailbot.health import HealthServer
from foi_mailbot.outbound.acks import Acknowledger
from foi_mailbot.outbound.journal import SentJournal
from foi_mailbot.outbound.outbox import Outbox, RetryPolicy, SentFolder, own_message_ids
from foi_mailbot.outbound.render import check_templates, make_environment
from foi_mailbot.outbound.transport import Transport, make_transport
from foi_mailbot.parsing.pool import ParsePool
from foi_mailbot.pipeline import Pipeline, classify_context
from foi_mailbot.settings import DEFAULT_SECRET, Settings
from foi_mailbot.sources import MailSource
from foi_mailbot.sources.start import StartPoint
from foi_mailbot.storage.db import make_engine, make_session_factory, sqlite_file, upgrade
from foi_mailbot.storage.secret import stored_reference_secret
from foi_mailbot.storage.state import DbCheckpoints

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler

    from foi_mailbot.oauth import CachedTokens
    from foi_mailbot.sources.tokens import TokenProvider


def reference_codec(settings: Settings, stored: str | None = None) -> ReferenceCodec:
    """The reference codec for this organisation: the configured secret, else `stored`."""
    org = settings.organisation
    configured = org.reference_secret.get_secret_value() if org.reference_secret else None
    secret = configured or stored or DEFAULT_SECRET
    if org.legacy_reference_patterns:
        from foi_mailbot.cases.legacy import LegacyAwareCodec, compile_patterns

        return LegacyAwareCodec(org.reference_prefix, secret,
                                compile_patterns(org.legacy_reference_patterns))
    return ReferenceCodec(org.reference_prefix, secret)


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
    alerter: Alerter
    source: MailSource | None = None
    quick_engine: Engine | None = None
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
        today = local_date(self.clock.now(), self.settings.organisation.zone)
        for law in Law:
            self.services.calendars.for_law(law).fingerprint(today=today)
        check_templates(self.services.acks.env)

    def send_unless_busy(self, stop: Callable[[], bool]) -> int:
        """Send the outbox, unless the mail loop is mid-cycle: it sends when the cycle ends."""
        if not self.mail_lock.acquire(blocking=False):
            return 0
        try:
            return self.outbox.drain(stop=stop)
        finally:
            self.mail_lock.release()

    def close(self) -> None:
        """Release connections."""
        self.outbox.close()
        if self.source is not None:
            self.source.close()
        self.pipeline.close()
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
    sent_folder: SentFolder | None = None,
) -> App:
    """Build the application; `with_source` connects the mailbox (the daemon wants it).

    `transport` and `sent_folder` replace the configured ones (tests pass stand-ins).
    """
    clock = clock or SystemClock()
    url = settings.database.resolved_url(settings.paths)
    database = sqlite_file(url)
    engine = make_engine(url)
    if migrate:
        upgrade(engine)
    factory = make_session_factory(engine)
    # A second engine on the same file (an in-memory database would be a different one).
    quick_engine = make_engine(url, fsync=False) if database else None
    env = make_environment(settings.paths.template_dir)
    services = Services(
        settings=settings,
        codec=reference_codec(
            settings,
            None if settings.organisation.reference_secret else stored_reference_secret(
                factory, clock),
        ),
        calendars=Calendars(clock_policy(settings)),
        acks=Acknowledger(settings=settings, env=env),
    )
    quick_factory = make_session_factory(quick_engine) if quick_engine else None
    pool = ParsePool() if settings.pipeline.parse_worker else None
    pipeline = Pipeline(factory, services, clock, classify_context(settings, services),
                        quick_factory=quick_factory, pool=pool)
    alerter = Alerter(settings, factory, clock)
    oauth, smtp_tokens = _token_providers(settings, clock, alerter)
    transport = transport or make_transport(settings, smtp_tokens)
    source = make_source(settings, factory, clock, oauth) if with_source else None
    outbox = Outbox(
        factory=factory,
        transport=transport,
        clock=clock,
        journal=SentJournal(settings.paths.data_dir / "sent.journal"),
        retry=RetryPolicy(give_up_after=timedelta(hours=settings.smtp.retry_for_hours)),
        sent_folder=sent_folder or make_sent_folder(settings, source),
        file_copies=settings.smtp.append_to_sent,
        alerts=alerter,
    )
    return App(settings, clock, engine, factory, services, pipeline, transport, outbox, alerter,
               source, quick_engine=quick_engine, oauth=oauth)


def _token_providers(
    settings: Settings, clock: Clock, alerter: Alerter
) -> tuple[CachedTokens | None, TokenProvider | None]:
    """The shared `[oauth]` token source, and SMTP's (its own command or file, or the shared).
    Each fetch of the shared token is reported to `alerter` (health and alerts)."""
    from foi_mailbot.oauth import shared_tokens, tokens_for
    from foi_mailbot.oauth.providers import uses_xoauth2

    if not uses_xoauth2(settings):
        return None, None
    shared = shared_tokens(settings, clock, on_result=alerter.token_result)
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
        # Our own replies filed in Sent are passed over unfetched: the outbox knows them.
        # What the source notices of its folders (Sent found by flag, a folder gone) goes to
        # `status` and `/healthz`.
        return ImapSource(box, DbCheckpoints(factory), token_provider=tokens, clock=clock,
                          ours=partial(own_message_ids, factory),
                          start=StartPoint(factory, clock, box.start),
                          on_folders=partial(_record_folders, factory, clock))
    from foi_mailbot.sources.maildir import MaildirSource

    path = box.maildir or settings.paths.data_dir / "maildir"
    return MaildirSource(path, settings.organisation.mailbox_address, clock,
                         start=StartPoint(factory, clock, box.start))


def _record_folders(factory: sessionmaker[Session], clock: Clock, state: dict[str, Any]) -> None:
    from foi_mailbot.health import FOLDERS_STATE
    from foi_mailbot.storage.state import record

    record(factory, clock, FOLDERS_STATE, state)


def make_sent_folder(settings: Settings, source: MailSource | None) -> SentFolder | None:
    """With IMAP and a Sent folder configured, the outbox files copies there and asks it
    about interrupted sends."""
    from foi_mailbot.outbound.sent_folder import ImapSentFolder
    from foi_mailbot.sources.imap import ImapSource

    if not isinstance(source, ImapSource) or not settings.mailbox.sent_folder:
        return None
    return ImapSentFolder(source.sent, settings.mailbox.sent_folder)


def make_health_server(
    app: App, *, host: str | None = None, port: int | None = None
) -> HealthServer:
    """The `/healthz` and `/metrics` server (not started) on the configured address, unless
    `host` or `port` are given."""
    return HealthServer(app.engine, app.factory, app.clock, app.settings,
                        host=host, port=port)


def make_scheduler(app: App, *, stop_event: threading.Event) -> BackgroundScheduler:
    """The daemon's schedules (not started), given what their jobs use."""
    from foi_mailbot.jobs import Sweeps, schedule

    sweeps = Sweeps(app.settings, app.clock, app.factory, app.services, app.send_unless_busy)
    return schedule(sweeps, stop_event=stop_event)
