"""Small persistent facts: folder checkpoints (for IMAP) and the daemon's own state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from foi_mailbot.clock import Clock
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import FolderCheckpoint, ServiceState


class DbCheckpoints:
    """See `sources.CheckpointStore`: checkpoints kept in the database."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory

    def get(self, mailbox: str, folder: str) -> tuple[int, int] | None:
        """See `CheckpointStore.get`."""
        with session_scope(self._factory) as session:
            row = session.get(FolderCheckpoint, (mailbox, folder))
            return (row.uidvalidity, row.last_uid) if row else None

    def set(self, mailbox: str, folder: str, uidvalidity: int, last_uid: int) -> None:
        """See `CheckpointStore.set`."""
        with session_scope(self._factory) as session:
            row = session.get(FolderCheckpoint, (mailbox, folder))
            if row is None:
                session.add(FolderCheckpoint(mailbox=mailbox, folder=folder,
                                             uidvalidity=uidvalidity, last_uid=last_uid))
            else:
                row.uidvalidity, row.last_uid = uidvalidity, last_uid


def put_state(session: Session, key: str, value: dict[str, Any], now: datetime) -> None:
    """Set one service-state entry."""
    row = session.get(ServiceState, key)
    if row is None:
        session.add(ServiceState(key=key, value=value, updated_at=now))
    else:
        row.value, row.updated_at = value, now


def get_state(session: Session, key: str) -> dict[str, Any] | None:
    """Read one service-state entry."""
    row = session.get(ServiceState, key)
    return dict(row.value) if row else None


def record(factory: sessionmaker[Session], clock: Clock, key: str, value: dict[str, Any]) -> None:
    """`put_state` in its own transaction."""
    with session_scope(factory) as session:
        put_state(session, key, value, clock.now())
