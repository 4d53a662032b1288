"""Dates on a case's timeline are dates in the organisation's time zone, not the server's."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import select

from foi_mailbot.bootstrap import build
from foi_mailbot.clock import FixedClock
from foi_mailbot.ingest import store
from foi_mailbot.settings import Settings
from foi_mailbot.sources import RawMail
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import Case, CaseEvent

FIXTURE = Path(__file__).parents[1] / "fixtures" / "new_request_plain_foia.eml"
# Monday 12 January 2026, 23:30 in London; already Tuesday the 13th in Auckland.
LATE = datetime(2026, 1, 12, 23, 30, tzinfo=UTC)


def test_a_request_received_late_in_london_is_dated_by_the_organisations_own_zone(
    make_settings: Callable[..., Settings],
) -> None:
    """Received on, and every timeline entry of, a request are the organisation's dates."""
    settings = make_settings(organisation={"time_zone": "Pacific/Auckland"})
    app = build(settings, clock=FixedClock(LATE))
    mail = RawMail("test:1", "foi@example.gov.uk", "INBOX", None, None, LATE,
                   FIXTURE.read_bytes(), "inbound")
    store(app.factory, mail, app.clock)

    app.pipeline.run_pending()

    with session_scope(app.factory) as session:
        case = session.scalars(select(Case)).one()
        dated = {event.kind: event.on for event in session.scalars(select(CaseEvent))}
        assert date(2026, 1, 13) == case.received_on
    assert "acknowledged" in dated
    assert {date(2026, 1, 13)} == set(dated.values()), dated
