"""NUL, control characters and undecodable bytes in headers never reach a letter we send."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from foi_mailbot.bootstrap import build
from foi_mailbot.clock import FixedClock
from foi_mailbot.ingest import store
from foi_mailbot.parsing import parse
from foi_mailbot.settings import Settings
from foi_mailbot.sources import RawMail
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import OutboxMessage

FIXTURE = Path(__file__).parents[1] / "fixtures" / "malformed_nul_and_8bit_in_sender_name.eml"
_UNCLEAN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\\u[0-9a-f]{4}|[\ud800-\udfff]")


def test_sender_name_and_subject_are_clean_text() -> None:
    """The parsed name and subject carry no control characters nor escaped raw bytes."""
    mail = parse(FIXTURE.read_bytes())

    assert mail.from_addr is not None
    assert not _UNCLEAN.search(mail.from_addr.name), mail.from_addr.name
    assert not _UNCLEAN.search(mail.subject), mail.subject
    assert "Ann" in mail.from_addr.name
    assert "Parking" in mail.subject


def test_the_acknowledgement_carries_none_of_them(settings: Settings) -> None:
    """Through the whole pipeline, the letter's headers and body are clean."""
    app = build(settings, clock=FixedClock(datetime(2026, 1, 12, 10, 0, tzinfo=UTC)))
    store(app.factory, RawMail("test:1", "foi@example.gov.uk", "INBOX", None, None,
                               app.clock.now(), FIXTURE.read_bytes(), "inbound"), app.clock)
    app.pipeline.run_pending()

    with session_scope(app.factory) as session:
        [letter] = [r.raw for r in session.scalars(select(OutboxMessage))]
    text = letter.decode("utf-8", "replace")
    assert b"\x00" not in letter
    assert not _UNCLEAN.search(text.replace("\r\n", "\n").replace("\t", " "))
