"""Alembic environment: runs migrations on the engine handed over by `storage.db.upgrade`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from foi_mailbot.storage.models import Base

target_metadata = Base.metadata


def run_migrations_online() -> None:
    """Run against the engine in the Alembic config's attributes."""
    engine: Engine = context.config.attributes["engine"]
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
