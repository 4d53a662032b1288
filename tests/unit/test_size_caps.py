"""Bounded work for any message: over the cap, headers and first text only; below it, at most
`PARSE_LIMIT` bytes parsed; a message that cannot be read is flagged, never acknowledged."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from foi_mailbot.bootstrap import build
from foi_mailbot.clock import FixedClock
from foi_mailbot.ingest import store
from foi_mailbot.parsing import PARSE_LIMIT, parse, unreadable
from foi_mailbot.settings import Settings
from foi_mailbot.sources import RawMail
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import InboundMessage, OutboxMessage

FIXTURES = Path(__file__).parents[1] / "fixtures"
MB = 1024 * 1024


def _with_long_text(extra_bytes: int) -> bytes:
    """A real request whose plain-text body goes on with a pasted document of this size."""
    raw = (FIXTURES / "new_request_plain_foia.eml").read_bytes()
    line = b"Appendix: the figures requested, as pasted from the spreadsheet, row by row.\r\n"
    return raw + line * (extra_bytes // len(line))


def test_a_message_over_the_cap_is_read_from_its_headers_and_first_text() -> None:
    """Over `max_bytes`: the headers and the start of the text are read, flagged as too large."""
    raw = _with_long_text(3 * MB)

    mail = parse(raw, max_bytes=2 * MB)

    assert mail.from_addr is not None
    assert "m.okafor@gmail.com" == mail.from_addr.email
    assert "agency staff" in mail.text
    assert len(raw) == mail.size
    assert any(d.startswith("too_large") for d in mail.defects)
    assert unreadable(mail) is not None


def test_below_the_cap_a_long_text_is_parsed_only_up_to_the_limit() -> None:
    """A text part larger than the parse limit: its first part is read; nothing is flagged."""
    raw = _with_long_text(PARSE_LIMIT + MB)

    mail = parse(raw)

    assert "agency staff" in mail.text
    assert len(mail.text) <= PARSE_LIMIT
    assert "text_truncated" in mail.defects
    assert unreadable(mail) is None


def test_a_message_that_cannot_be_read_is_flagged_and_never_acknowledged(
    make_settings: Callable[..., Settings], db_url: str
) -> None:
    """Too large (and a body that could not be parsed): flagged, no letter queued."""
    settings = make_settings(db=db_url, mailbox={"max_message_bytes": MB})
    app = build(settings, clock=FixedClock(datetime(2026, 1, 12, 10, 0, tzinfo=UTC)))
    store(app.factory, RawMail("test:big", "foi@example.gov.uk", "INBOX", None, None,
                               app.clock.now(), _with_long_text(2 * MB), "inbound"), app.clock)

    app.pipeline.run_pending()

    with session_scope(app.factory) as session:
        row = session.scalars(select(InboundMessage)).one()
        assert row.needs_person
        assert "larger than the limit" in (row.attention_reason or "")
        assert not session.scalars(select(OutboxMessage)).all()


def test_a_large_message_is_stored_byte_for_byte(
    make_settings: Callable[..., Settings], db_url: str
) -> None:
    """A body written in chunks (SQLite) or at once (PostgreSQL) reads back exactly."""
    from foi_mailbot.storage.blobs import CHUNK, STREAM_FROM
    from foi_mailbot.storage.queries import raw_of

    app = build(make_settings(db=db_url), clock=FixedClock())
    raw = _with_long_text(STREAM_FROM + CHUNK + 12_345)
    stored = store(app.factory, RawMail("test:large", "foi@example.gov.uk", "INBOX", None, None,
                                        app.clock.now(), raw, "inbound"), app.clock)

    with app.factory() as session:
        assert raw == raw_of(session, stored.message_pk)
    app.close()


def test_a_stored_message_over_the_cap_is_read_back_from_its_beginning_only(
    make_settings: Callable[..., Settings], db_url: str
) -> None:
    """Over the cap, only the first `PARSE_LIMIT` bytes come back from the database (on
    PostgreSQL a whole 100 MB message cost several times its size in transit); the parse
    still knows the whole message's size, and flags it."""
    from foi_mailbot.storage.queries import raw_of
    from foi_mailbot.stored import parse_stored

    app = build(make_settings(db=db_url, mailbox={"max_message_bytes": MB}), clock=FixedClock())
    raw = _with_long_text(PARSE_LIMIT + 2 * MB)
    stored = store(app.factory, RawMail("test:over", "foi@example.gov.uk", "INBOX", None, None,
                                        app.clock.now(), raw, "inbound"), app.clock)

    with app.factory() as session:
        row = session.get(InboundMessage, stored.message_pk)
        assert row is not None
        assert raw[:PARSE_LIMIT] == raw_of(session, row.id, limit=PARSE_LIMIT)
        mail = parse_stored(session, row, MB)
    assert mail is not None
    assert mail.from_addr is not None
    assert "m.okafor@gmail.com" == mail.from_addr.email
    assert len(raw) == mail.size
    assert f"too_large: {len(raw)} bytes (limit {MB})" in mail.defects
    app.close()


def test_in_a_backlog_a_message_over_the_configured_cap_is_flagged_as_one_alone_would_be(
    make_settings: Callable[..., Settings], db_url: str
) -> None:
    """With a backlog the parsing process reads ahead, but a message over the configured cap
    (here 1 MB, well below the default) is never sent to it whole: it is read from its
    beginning, flagged as too large and not acknowledged, like the same message alone."""
    settings = make_settings(db=db_url, mailbox={"max_message_bytes": MB})
    app = build(settings, clock=FixedClock(datetime(2026, 1, 12, 10, 0, tzinfo=UTC)))
    assert app.pipeline.pool is not None
    raws = [_with_long_text(0).replace(b"Message-ID: <", f"Message-ID: <{n}.".encode(), 1)
            for n in range(5)]
    raws[2] = _with_long_text(2 * MB)
    for n, raw in enumerate(raws):
        store(app.factory, RawMail(f"test:{n}", "foi@example.gov.uk", "INBOX", None, None,
                                   app.clock.now(), raw, "inbound"), app.clock)

    app.pipeline.run_pending()

    with session_scope(app.factory) as session:
        rows = session.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()
        assert [False, False, True, False, False] == [
            any(d.startswith("too_large") for d in row.defects or []) for row in rows]
        assert "larger than the limit" in (rows[2].attention_reason or "")
    app.close()
