"""Parsing ahead in a second process gives the same parsed mail, and survives losing its worker."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

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
SAMPLES = sorted(FIXTURES.glob("*.eml"))[:6]


def _stored(app: App) -> list[int]:
    mails = [RawMail(f"k{i}", "foi@example.gov.uk", "INBOX", None, None, NOW, p.read_bytes(),
                     "inbound") for i, p in enumerate(SAMPLES)]
    return [r.message_pk for r in store_many(app.factory, mails, app.clock)]


def test_the_worker_parses_each_message_as_it_would_be_parsed_in_place(
    settings: Settings,
) -> None:
    """Same ids, same order, same ParsedMail."""
    app = build(settings, clock=FixedClock(NOW))
    ids = _stored(app)
    ahead = ParseAhead(settings.database.resolved_url(settings.paths))
    try:
        results = list(ahead.parsed(ids))
    finally:
        ahead.close()

    assert ids == [pk for pk, _ in results]
    assert [parse(p.read_bytes()) for p in SAMPLES] == [mail for _, mail in results]


def test_losing_the_worker_leaves_the_rest_to_be_parsed_in_place(settings: Settings) -> None:
    """A worker that dies mid-batch costs nothing but speed: later messages come back unparsed."""
    app = build(settings, clock=FixedClock(NOW))
    ids = _stored(app)
    ahead = ParseAhead(settings.database.resolved_url(settings.paths))
    results = []
    for message_pk, mail in ahead.parsed(ids):
        results.append((message_pk, mail))
        if len(results) == 1:
            assert ahead._worker is not None
            ahead._worker[0].kill()
            ahead._worker[0].join()

    assert ids == [pk for pk, _ in results]
    assert results[-1][1] is None
    assert ahead._worker is None


def test_a_backlog_through_the_pipeline_with_the_worker_is_applied(settings: Settings) -> None:
    """Every message of a backlog is applied when parsed ahead, and the worker is stopped after."""
    app = build(settings, clock=FixedClock(NOW))
    ids = _stored(app)
    assert app.pipeline.ahead is not None and app.pipeline.ahead.wanted(len(ids))

    app.pipeline.run_pending()
    worker = app.pipeline.ahead._worker
    app.close()

    with session_scope(app.factory) as session:
        statuses = {session.get(InboundMessage, pk).status for pk in ids}  # type: ignore[union-attr]
    assert statuses <= {"applied", "needs_attention"}
    assert worker is not None and not worker[0].is_alive()
