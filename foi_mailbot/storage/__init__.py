"""Storage: the database engine, the session scope and the models."""

from foi_mailbot.storage.db import make_engine, make_session_factory, session_scope, upgrade

__all__ = ["make_engine", "make_session_factory", "session_scope", "upgrade"]
