"""structlog set-up: readable console on a terminal, JSON lines otherwise; secrets never logged."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# Keys that may carry message text or credentials; their values are never written out.
REDACTED_KEYS = frozenset(
    {"body", "text", "raw", "html", "password", "token", "secret", "subject", "authorization"}
)


def redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Replace the values of sensitive keys with a marker."""
    for key in list(event):
        if key.lower() in REDACTED_KEYS:
            event[key] = "[redacted]"
    return event


def configure(*, level: str = "INFO", json: bool | None = None) -> None:
    """Configure structlog and route stdlib loggers (SQLAlchemy, APScheduler) through it."""
    as_json = (not sys.stderr.isatty()) if json is None else json
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if as_json else _identity,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # imapclient logs every command at DEBUG (and LOGIN lines); APScheduler is chatty at INFO.
    for noisy, noisy_level in (("imapclient", "WARNING"), ("apscheduler", "WARNING"),
                               ("sqlalchemy", "WARNING"), ("mail-parser", "ERROR"),
                               ("mailparser", "ERROR")):
        logging.getLogger(noisy).setLevel(noisy_level)
    logging.getLogger("alembic.runtime.migration").addFilter(_ALEMBIC_STARTUP)


class _AlembicStartup(logging.Filter):
    """Drops the two lines Alembic logs at every start; the migrations it runs are kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for "Context impl ..." and "Will assume ... DDL"."""
        return not record.getMessage().startswith(("Context impl", "Will assume"))


_ALEMBIC_STARTUP = _AlembicStartup()


def _identity(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    return event
