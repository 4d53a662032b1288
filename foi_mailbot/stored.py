"""A stored message read back and parsed, never more of it than parsing reads.

A message over `[mailbox] max_message_bytes` is parsed from its first `PARSE_LIMIT` bytes only
(`parsing.parse`), so only those are read back from the database: the whole of a 100 MB
message would cost its size again, and on PostgreSQL several times that in transit.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from foi_mailbot.parsing import PARSE_LIMIT, parse
from foi_mailbot.parsing.parsed import ParsedMail
from foi_mailbot.storage import queries
from foi_mailbot.storage.models import InboundMessage


def parse_stored(session: Session, row: InboundMessage, max_bytes: int) -> ParsedMail | None:
    """The stored message parsed (None once its bytes are purged)."""
    limit = PARSE_LIMIT if row.size > max_bytes else None
    raw = queries.raw_of(session, row.id, limit=limit)
    return None if raw is None else parse(raw, max_bytes=max_bytes, size=row.size)
