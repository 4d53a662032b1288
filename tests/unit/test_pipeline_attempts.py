"""A message that keeps failing goes to a person after three attempts; the loop goes on."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from foi_mailbot import pipeline as pipeline_module
from foi_mailbot.bootstrap import App, build
from foi_mailbot.clock import FixedClock
from foi_mailbot.ingest import store
from foi_mailbot.pipeline import Pipeline
from foi_mailbot.settings import Settings
from foi_mailbot.sources import RawMail
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import InboundMessage

FIXTURE = Path(__file__).parents[1] / "fixtures" / "new_request_plain_foia.eml"
NOW = datetime(2026, 1, 12, 10, tzinfo=UTC)


def _stored(app: App) -> int:
    mail = RawMail("test:1", "foi@example.gov.uk", "INBOX", None, None, NOW,
                   FIXTURE.read_bytes(), "inbound")
    pk = store(app.factory, mail, app.clock).message_pk
    app.pipeline.note_stored(pk)
    return pk


def _row(app: App, pk: int) -> InboundMessage:
    with session_scope(app.factory) as session:
        row = session.get(InboundMessage, pk)
        assert row is not None
        return row


def _set_attempts(app: App, pk: int, attempts: int) -> None:
    with session_scope(app.factory) as session:
        row = session.get(InboundMessage, pk)
        assert row is not None
        row.attempts = attempts


def _restarted(app: App) -> Pipeline:
    """The pipeline of a new process: it stored nothing itself."""
    return Pipeline(app.factory, app.services, app.clock, app.pipeline.base_context)


def _broken(*_args: object) -> object:
    msg = "classifier blew up"
    raise RuntimeError(msg)


def test_failing_message_is_handed_to_a_person_after_three_attempts(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three failures mark the message needs_attention with the error; no fourth try."""
    app = build(settings, clock=FixedClock(NOW))
    pk = _stored(app)
    monkeypatch.setattr(pipeline_module, "classify", _broken)

    for _ in range(5):
        app.pipeline.run_pending()

    row = _row(app, pk)
    assert "needs_attention" == row.status
    assert row.needs_person
    assert "classifier blew up" in (row.attention_reason or "")
    assert 3 == row.attempts


def test_message_that_kills_the_process_is_given_up_after_three_counted_restarts(
    settings: Settings,
) -> None:
    """Each restart counts an attempt before trying, so a crash loop ends with a person."""
    app = build(settings, clock=FixedClock(NOW))
    pk = _stored(app)
    _set_attempts(app, pk, 3)  # three restarts that died while processing it

    _restarted(app).run_pending()  # attempt 4 is over the limit

    assert "needs_attention" == _row(app, pk).status


def test_message_stored_by_this_process_is_processed_with_one_attempt(
    settings: Settings,
) -> None:
    """The normal path costs no extra commit and counts one attempt."""
    app = build(settings, clock=FixedClock(NOW))
    pk = _stored(app)

    app.pipeline.run_pending()

    row = _row(app, pk)
    assert "applied" == row.status
    assert 1 == row.attempts


@pytest.mark.parametrize(
    ("counted_before", "why"),
    [
        (0, "its process died after storing it, before trying it: nothing is blamed"),
        (2, "two restarts died while it was in hand: still short of the limit"),
    ],
)
def test_a_restarted_process_applies_a_message_short_of_the_limit_counting_one_try(
    settings: Settings, counted_before: int, why: str
) -> None:
    """A new process counts its own try and applies the message."""
    app = build(settings, clock=FixedClock(NOW))
    pk = _stored(app)
    _set_attempts(app, pk, counted_before)

    _restarted(app).run_pending()

    row = _row(app, pk)
    assert "applied" == row.status, why
    assert counted_before + 1 == row.attempts


def test_a_message_in_hand_at_a_crash_is_tried_after_the_others(settings: Settings) -> None:
    """After a restart, messages never tried go first; the one that was in hand goes last."""
    app = build(settings, clock=FixedClock(NOW))
    first = _stored(app)
    later = store(app.factory, RawMail("test:2", "foi@example.gov.uk", "INBOX", None, None, NOW,
                                       FIXTURE.read_bytes() + b"\n", "inbound"),
                  app.clock).message_pk
    _set_attempts(app, first, 1)  # a restart took it up and died

    assert [later, first] == app.pipeline.pending()
