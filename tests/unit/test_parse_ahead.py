"""Parsing ahead in a second process gives the same parsed mail, and survives losing its worker."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from foi_mailbot.bootstrap import App, build
from foi_mailbot.clock import FixedClock
from foi_mailbot.ingest import store_many
from foi_mailbot.parse_ahead import ParseAhead
from foi_mailbot.parsing import parse
from foi_mailbot.settings import Settings
from foi_mailbot.sources import RawMail
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import InboundMessage

FIXTURES = Path(__file__).parents[1] / "fixtures"
NOW = datetime(2026, 1, 12, 10, tzinfo=UTC)
SAMPLES = sorted(FIXTURES.glob("*.eml"))[:7]


def _raws() -> dict[int, bytes | None]:
    return {index: path.read_bytes() for index, path in enumerate(SAMPLES)}


def _stored(app: App) -> list[int]:
    mails = [RawMail(f"k{i}", "foi@example.gov.uk", "INBOX", None, None, NOW, p.read_bytes(),
                     "inbound") for i, p in enumerate(SAMPLES)]
    return [r.message_pk for r in store_many(app.factory, mails, app.clock)]


@pytest.mark.parametrize(("window", "window_bytes"), [(2, 2**30), (4, 1)])
def test_the_worker_parses_each_message_as_it_would_be_parsed_in_place(
    window: int, window_bytes: int
) -> None:
    """Same ids, same order, same ParsedMail; a message with no raw bytes comes back unparsed.

    However far ahead it may run, by count or by bytes.
    """
    raws = _raws()
    raws[3] = None
    ahead = ParseAhead(window=window, window_bytes=window_bytes)
    try:
        results = list(ahead.parsed(list(raws), raws.get))
    finally:
        ahead.close()

    assert [pk for pk, _ in results] == list(raws)
    expected = [parse(raw) if raw is not None else None for raw in raws.values()]
    assert [mail for _, mail in results] == expected


def test_on_sqlite_the_worker_reads_the_stored_messages_itself(
    make_settings: Callable[..., Settings]
) -> None:
    """The daemon sends ids only; a missing message comes back unparsed, to be handled in place."""
    app = build(make_settings(), clock=FixedClock(NOW))
    ids = _stored(app)
    ahead = app.pipeline.ahead
    assert ahead is not None and ahead.database is not None

    def never(_pk: int) -> bytes | None:
        raise AssertionError("the daemon loaded a message's bytes itself")

    try:
        results = list(ahead.parsed([*ids, 999_999], never))
    finally:
        app.close()

    assert [pk for pk, _ in results] == [*ids, 999_999]
    expected = [parse(path.read_bytes()) for path in SAMPLES]
    assert [mail for _, mail in results] == [*expected, None]


def test_losing_the_worker_leaves_the_rest_to_be_parsed_in_place() -> None:
    """A worker that dies mid-batch costs nothing but speed: later messages come back unparsed."""
    raws = _raws()
    # Two ahead: the later messages are sent only after the kill, so none was parsed before it.
    ahead = ParseAhead(window=2)
    results = []
    for message_pk, mail in ahead.parsed(list(raws), raws.get):
        results.append((message_pk, mail))
        if len(results) == 1:
            assert ahead._worker is not None
            ahead._worker.process.kill()
            ahead._worker.process.wait()

    assert [pk for pk, _ in results] == list(raws)
    assert results[0][1] is not None
    assert results[-1][1] is None
    assert ahead._worker is None


def test_leaving_a_batch_early_stops_the_worker() -> None:
    """Results sent ahead for messages no longer in hand are never read as someone else's."""
    raws = _raws()
    ahead = ParseAhead()
    parsed = ahead.parsed(list(raws), raws.get)
    next(parsed)
    worker = ahead._worker
    parsed.close()

    assert ahead._worker is None
    assert worker is not None and worker.process.poll() is not None


def test_a_backlog_through_the_pipeline_with_the_worker_is_applied(settings: Settings) -> None:
    """Every message of a backlog is applied when parsed ahead, and the worker is stopped after."""
    app = build(settings, clock=FixedClock(NOW))
    ids = _stored(app)
    ahead = app.pipeline.ahead
    assert ahead is not None and ahead.wanted(len(ids))
    started: list[object] = []
    original = ahead._start

    def start() -> object:
        started.append(original())
        return started[-1]

    ahead._start = start  # type: ignore[method-assign]
    app.pipeline.run_pending()
    app.close()

    with session_scope(app.factory) as session:
        rows = [session.get(InboundMessage, pk) for pk in ids]
    assert {row.status for row in rows if row} <= {"applied", "needs_attention"}
    assert all(row and row.kind for row in rows)
    assert len(started) == 1 and started[0] is not None
    assert ahead._worker is None


def test_a_stop_ends_a_backlog_after_the_message_in_hand(settings: Settings) -> None:
    """SIGTERM mid-backlog: the message in hand is finished, the rest wait for the next start."""
    app = build(settings, clock=FixedClock(NOW))
    ids = _stored(app)
    handled: list[int] = []
    original = app.pipeline.apply_one

    def apply_one(session: Session, message_pk: int, parsed: object = None) -> object:
        handled.append(message_pk)
        return original(session, message_pk, parsed)  # type: ignore[arg-type]

    app.pipeline.apply_one = apply_one  # type: ignore[method-assign,assignment]
    app.pipeline.run_pending(stop=lambda: len(handled) == 2)
    app.close()

    assert 2 == len(handled)
    assert len(ids) - 2 == len(app.pipeline.pending())
    assert app.pipeline.ahead is not None and app.pipeline.ahead._worker is None


def test_results_larger_than_the_socket_buffer_come_back_whole_and_in_order() -> None:
    """Sixteen messages of 300 KB of text each: the worker queues what the daemon has not read."""
    body = "A long letter about the council's budget.\n" * 7_000
    raws = {
        pk: (f"From: a{pk}@example.org\nSubject: letter {pk}\n\n{body}").encode()
        for pk in range(16)
    }
    ahead = ParseAhead(window=16, window_bytes=2**30)
    try:
        results = list(ahead.parsed(list(raws), raws.get))
    finally:
        ahead.close()

    assert [f"letter {pk}" for pk in raws] == [mail.subject for _, mail in results if mail]
    assert all(mail is not None and len(mail.text) > 250_000 for _, mail in results)
