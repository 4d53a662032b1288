"""Writing a message's raw bytes without copying them whole.

The SQLite driver copies a bound value, and SQLite builds the whole record in memory before
writing it: a 100 MB message cost three times its size to store. On SQLite a large body is
therefore inserted as a zero-filled blob of its length and then written in chunks through
SQLite's incremental blob I/O, so storing it holds no second copy. Other databases get a
plain INSERT.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from sqlalchemy import func, insert
from sqlalchemy.engine import Connection

from foi_mailbot.storage.models import RawMessage

STREAM_FROM: Final = 4 * 1024 * 1024
"""Bodies from this size are written in chunks on SQLite."""
CHUNK: Final = 1024 * 1024


def insert_raw(connection: Connection, rows: Sequence[tuple[int, bytes]]) -> None:
    """Insert `raw_message` rows (message id, bytes) in the connection's transaction."""
    streamed = connection.dialect.name == "sqlite"
    small = [(pk, raw) for pk, raw in rows if not streamed or len(raw) < STREAM_FROM]
    if small:
        connection.execute(insert(RawMessage), [{"message_pk": pk, "raw": raw}
                                                for pk, raw in small])
    for pk, raw in rows:
        if streamed and len(raw) >= STREAM_FROM:
            _stream(connection, pk, raw)


def _stream(connection: Connection, message_pk: int, raw: bytes) -> None:
    connection.execute(insert(RawMessage).values(message_pk=message_pk,
                                                 raw=func.zeroblob(len(raw))))
    driver = connection.connection.driver_connection
    view = memoryview(raw)
    # `message_pk` is the table's integer primary key, so it is the rowid blob I/O asks for.
    with driver.blobopen("raw_message", "raw", message_pk) as blob:  # type: ignore[union-attr]
        for start in range(0, len(raw), CHUNK):
            blob.write(view[start:start + CHUNK])
