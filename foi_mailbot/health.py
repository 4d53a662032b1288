"""Operations: is the service well? `/healthz` and `/metrics` over HTTP, and `foi-mailbot status`.

`health_report` is the core: the daemon is healthy while the database answers and the mailbox was
synced recently. `HealthServer` serves it (and the Prometheus figures) from a daemon thread beside
the mail loop; it binds loopback unless configured otherwise and never logs what it was sent.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Final

import structlog
from sqlalchemy.exc import SQLAlchemyError

from foi_mailbot.alerts import COMPONENTS, failing_components, failing_errors
from foi_mailbot.clock import as_utc, local_date
from foi_mailbot.errors import TransientError
from foi_mailbot.metrics import Figures, make_registry, read_figures, render_metrics
from foi_mailbot.oauth.expiry import secret_expiry_warning
from foi_mailbot.storage.db import ping, session_scope
from foi_mailbot.storage.state import get_state

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from foi_mailbot.clock import Clock
    from foi_mailbot.settings import Settings

log = structlog.get_logger(__name__)

PROMETHEUS_TEXT: Final = "text/plain; version=0.0.4; charset=utf-8"
READ_TIMEOUT_SECONDS: Final = 10.0
"""A client that sends nothing for this long is disconnected (each holds a thread)."""
MAX_CONNECTIONS: Final = 16
"""Connections served at once; more are closed at once rather than queued on threads."""
FOLDERS_STATE: Final = "mailbox_folders"
"""State the IMAP source keeps of its folders: {"adopted": {configured: found}, "missing": []}."""


@dataclass(frozen=True)
class HealthReport:
    """Whether the service is well, the reasons if not, and the facts behind the verdict."""

    ok: bool
    reasons: tuple[str, ...]
    facts: dict[str, Any] = field(default_factory=dict)
    # Servers failing for less than `health.alert_after_seconds`: said, not yet unhealthy.
    warnings: tuple[str, ...] = ()


def _ago(seconds: float) -> str:
    """A duration in the largest whole unit that reads naturally."""
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} seconds"
    if seconds < 7200:
        return f"{seconds // 60} minutes"
    if seconds < 172800:
        return f"{seconds // 3600} hours"
    return f"{seconds // 86400} days"


def _facts(figures: Figures, failing: dict[str, str], now: datetime) -> dict[str, Any]:
    last = figures.last_sync_at
    return {
        "last_sync_at": last.isoformat() if last else None,
        "last_sync_age_seconds": int((now - last).total_seconds()) if last else None,
        "last_sync_stored": figures.last_sync_stored,
        "outbox_backlog": figures.outbox_backlog,
        "needs_person": figures.needs_person,
        "messages_needing_person": figures.messages_needing_person,
        "outbox_needing_person": figures.outbox_needing_person,
        "cases_open": figures.cases_open,
        "cases_opened": figures.cases_opened,
        "errors": dict(figures.errors),
        "failing": failing,
    }


def _sign_in_and_folders(
    settings: Settings, now: datetime, errors: dict[str, str], folders: dict[str, Any]
) -> tuple[list[str], list[str]]:
    """Reasons to be unwell (no OAuth2 token; a folder gone) and warnings (a secret about to
    end; a Sent folder found under another name)."""
    reasons: list[str] = []
    if "oauth" in errors:
        reasons.append(f"no OAuth2 token can be had: {errors['oauth']}")
    reasons += [f"the folder '{name}' has disappeared from the mailbox"
                for name in folders.get("missing", [])]
    warnings = [f"the Sent folder '{configured}' does not exist; staff replies are read from "
                f"'{found}', the folder the server flags as Sent: set mailbox.sent_folder = "
                f'"{found}"' for configured, found in folders.get("adopted", {}).items()]
    expiry = secret_expiry_warning(settings.oauth, local_date(now, settings.organisation.zone))
    if expiry:
        warnings.append(expiry)
    return reasons, warnings


def health_report(
    engine: Engine, factory: sessionmaker[Session], settings: Settings, now: datetime
) -> HealthReport:
    """Healthy while the database answers, the mailbox was synced within
    `health.stale_after_seconds`, an OAuth2 token can be had, the folders read are there, and
    neither server has been unreachable for `health.alert_after_seconds` (before that, a
    warning)."""
    now = as_utc(now)
    try:
        ping(engine)
    except TransientError:
        return HealthReport(False, ("the database does not answer",), {})
    try:
        with session_scope(factory) as session:
            figures = read_figures(session)
            failing = failing_components(session)
            errors = failing_errors(session)
            folders = get_state(session, FOLDERS_STATE) or {}
    except SQLAlchemyError as exc:
        reason = ("the database answers but its tables cannot be read "
                  f"({exc.__class__.__name__}; try foi-mailbot db upgrade)")
        return HealthReport(False, (reason,), {})
    facts = _facts(figures, failing, now)
    limit = settings.health.stale_after_seconds
    reasons, warnings = _unreachable(failing, now, settings.health.alert_after_seconds)
    more_reasons, facts["warnings"] = _sign_in_and_folders(settings, now, errors, folders)
    reasons += more_reasons
    if figures.last_sync_at is None:
        reasons.append("the mailbox has not been synced yet")
    elif (age := (now - figures.last_sync_at).total_seconds()) > limit:
        reasons.append(
            f"the mailbox was last synced {_ago(age)} ago, more than the allowed {_ago(limit)}"
        )
    return HealthReport(not reasons, tuple(reasons), facts, tuple(warnings))


def _unreachable(
    failing: dict[str, str], now: datetime, alert_after: float
) -> tuple[list[str], list[str]]:
    """Sentences on servers that cannot be reached: reasons once failing for `alert_after`
    seconds, warnings before that (one failed attempt is not an outage)."""
    reasons: list[str] = []
    warnings: list[str] = []
    for component, since in sorted(failing.items()):
        try:
            age = (now - as_utc(datetime.fromisoformat(since))).total_seconds()
        except ValueError:
            continue
        what = COMPONENTS.get(component, component)
        sentence = f"{what} cannot be reached (failing for {_ago(age)})"
        (reasons if age >= alert_after else warnings).append(sentence)
    return reasons, warnings


def describe(report: HealthReport) -> list[str]:
    """The report in plain sentences, as `foi-mailbot status` prints it."""
    lines = ["Healthy." if report.ok else "Not healthy:"]
    lines += [f"  - {reason}" for reason in (*report.reasons, *report.warnings)]
    facts = report.facts
    if not facts:
        return lines
    if facts["last_sync_at"]:
        stored = facts["last_sync_stored"]
        count = f", {stored} new message{'s' if stored != 1 else ''}" if stored is not None else ""
        lines.append(f"Last mailbox sync: {facts['last_sync_at']} "
                     f"({_ago(facts['last_sync_age_seconds'])} ago{count})")
    else:
        lines.append("Last mailbox sync: never")
    lines.append(f"Outbox backlog: {facts['outbox_backlog']}")
    waiting = facts["messages_needing_person"]
    lines.append(f"Needing a person: {facts['needs_person']} "
                 f"({waiting} message{'' if waiting == 1 else 's'}, "
                 f"{facts['outbox_needing_person']} outgoing)")
    lines.append(f"Open cases: {facts['cases_open']} (of {facts['cases_opened']} opened)")
    errors = ", ".join(f"{k} {v}" for k, v in sorted(facts["errors"].items())) or "none"
    lines.append(f"Errors reaching servers so far: {errors}")
    for component, since in sorted(facts["failing"].items()):
        lines.append(f"Failing now: {component}, since {since}")
    lines += [f"Warning: {warning}" for warning in facts.get("warnings", [])]
    return lines


class _Server(ThreadingHTTPServer):
    """The HTTP server, carrying the health server its handlers report on."""

    daemon_threads = True
    request_queue_size = 64  # the listen backlog: connections are taken promptly, then capped

    def __init__(self, address: tuple[str, int], health: HealthServer) -> None:
        self.health = health
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve on a thread of its own while a slot is free; else close the connection."""
        if not self.slots.acquire(blocking=False):
            log.warning("health.too_many_connections", limit=MAX_CONNECTIONS)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """See `ThreadingMixIn`; the slot is freed when the connection is done."""
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class _Handler(BaseHTTPRequestHandler):
    """Answers GET /healthz and GET /metrics; everything else is 404."""

    server: _Server
    server_version = "foi-mailbot"
    sys_version = ""
    timeout = READ_TIMEOUT_SECONDS  # the socket's timeout: an idle client is let go

    def do_GET(self) -> None:
        """Serve one of the two read-only pages."""
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            report = self.server.health.report()
            if report.ok:
                text = "".join(f"{line}\n" for line in ("ok", *report.warnings))
                self._reply(HTTPStatus.OK, text.encode(), "text/plain; charset=utf-8")
            else:
                text = "\n".join(report.reasons) + "\n"
                self._reply(HTTPStatus.SERVICE_UNAVAILABLE, text.encode(),
                            "text/plain; charset=utf-8")
        elif path == "/metrics":
            self._reply(HTTPStatus.OK, render_metrics(self.server.health.registry), PROMETHEUS_TEXT)
        else:
            self._reply(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")

    def _reply(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stdlib's stderr access log; `log_request` logs the essentials."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """One debug line per request: method, path and status only."""
        log.debug("health.request", method=self.command, path=self.path.split("?", 1)[0],
                  status=int(code) if str(code).isdigit() else code)


class HealthServer:
    """Serves `/healthz` and `/metrics` from a daemon thread; port 0 picks a free port."""

    def __init__(
        self,
        engine: Engine,
        factory: sessionmaker[Session],
        clock: Clock,
        settings: Settings,
        *,
        host: str | None = None,
        port: int | None = None,
    ) -> None:
        self.engine = engine
        self.factory = factory
        self.clock = clock
        self.settings = settings
        self.registry: CollectorRegistry = make_registry(factory)
        self.host = host if host is not None else settings.health.host
        self.port = port if port is not None else settings.health.port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def report(self) -> HealthReport:
        """The health report as of now."""
        return health_report(self.engine, self.factory, self.settings, self.clock.now())

    @property
    def url(self) -> str:
        """The base URL, e.g. `http://127.0.0.1:8025`."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Bind and serve in the background; returns once the socket is listening."""
        try:
            self._server = _Server((self.host, self.port), self)
        except OSError as exc:
            msg = (f"the health endpoint cannot listen on {self.host}:{self.port} "
                   f"({exc.strerror}); set health.port to a free port or health.enabled = false")
            raise TransientError(msg) from exc
        self.port = int(self._server.server_address[1])
        server = self._server
        # A short poll interval keeps `stop()` (and so the daemon's shutdown) prompt.
        self._thread = threading.Thread(
            target=lambda: server.serve_forever(poll_interval=0.1), name="health-server",
            daemon=True,
        )
        self._thread.start()
        log.info("health.listening", host=self.host, port=self.port)

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> HealthServer:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
