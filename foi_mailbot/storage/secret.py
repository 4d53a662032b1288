"""The reference secret: configured, or generated once and kept in the database.

The secret keys every reference's check suffix; anyone who knows it can mint valid references.
The example value from the documentation is refused by the commands that handle mail. With
none configured, a random one is generated at the first start and stored in `service_state`,
so every instance on one database shares it and it survives restarts (and backups hold it).
"""

from __future__ import annotations

import secrets
from typing import Final

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from foi_mailbot.clock import Clock
from foi_mailbot.settings import DEFAULT_SECRET, Settings
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.state import get_state, put_state

log = structlog.get_logger(__name__)

STATE_KEY: Final = "reference_secret"


def example_secret_refusal(settings: Settings) -> str | None:
    """One sentence when the configured secret is the documentation's example, else None."""
    configured = settings.organisation.reference_secret
    if configured is None or configured.get_secret_value() != DEFAULT_SECRET:
        return None
    return ("organisation.reference_secret is the example value from the documentation, with "
            "which anyone can mint valid references: set your own (e.g. `openssl rand -hex 32`) "
            "or remove it to have one generated")


def stored_reference_secret(factory: sessionmaker[Session], clock: Clock) -> str:
    """The secret kept in the database, generated and stored on first use."""
    with session_scope(factory) as session:
        found = _read(session)
        if found is not None:
            return found
    try:
        with session_scope(factory) as session:
            value = secrets.token_hex(32)
            put_state(session, STATE_KEY, {"value": value}, clock.now())
    except IntegrityError:  # another instance stored one first: theirs it is
        with session_scope(factory) as session:
            found = _read(session)
        if found is None:
            raise
        return found
    log.warning("reference_secret.generated", stored_in="the database (service_state)",
                hint="set organisation.reference_secret to choose your own")
    return value


def _read(session: Session) -> str | None:
    state = get_state(session, STATE_KEY)
    value = state.get("value") if state else None
    return str(value) if value else None
