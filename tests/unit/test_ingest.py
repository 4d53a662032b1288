"""Store first: a batch of messages is committed together, and a copy seen twice is one record."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from foi_mailbot.bootstrap import build
from foi_mailbot.clock import FixedClock
from foi_mailbot.ingest import store_many
from foi_mailbot.settings import Settings
from foi_mailbot.sources import RawMail
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import InboundMessage, SourceCopy

FIXTURES = Path(__file__).parents[1] / "fixtures"
NOW = datetime(2026, 1, 12, 10, tzinfo=UTC)


def _mail(key: str, raw: bytes) -> RawMail:
    return RawMail(key, "foi@example.gov.uk", "INBOX", None, None, NOW, raw, "inbound")


def test_a_batch_with_the_same_message_twice_stores_one_record_and_both_copies(
    settings: Settings,
) -> None:
    """Two deliveries of the same bytes in one batch: one message, two source copies."""
    app = build(settings, clock=FixedClock(NOW))
    first, second = sorted(FIXTURES.glob("new_request_*.eml"))[:2]
    mails = [_mail("k1", first.read_bytes()), _mail("k2", second.read_bytes()),
             _mail("k3", first.read_bytes())]

    results = store_many(app.factory, mails, app.clock)

    assert [True, True, False] == [r.created for r in results]
    assert results[0].message_pk == results[2].message_pk
    with session_scope(app.factory) as session:
        assert 2 == session.scalar(select(func.count()).select_from(InboundMessage))
        assert 3 == session.scalar(select(func.count()).select_from(SourceCopy))


def test_storing_a_batch_again_creates_nothing(settings: Settings) -> None:
    """A batch fetched again after a crash (same source keys) finds what was committed."""
    app = build(settings, clock=FixedClock(NOW))
    mails = [_mail(f"k{i}", p.read_bytes())
             for i, p in enumerate(sorted(FIXTURES.glob("new_request_*.eml"))[:3])]
    store_many(app.factory, mails, app.clock)

    again = store_many(app.factory, mails, app.clock)

    assert not any(r.created for r in again)
