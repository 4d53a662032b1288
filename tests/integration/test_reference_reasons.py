"""A reason says a message quotes a case's reference only when its subject or text does."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from foi_mailbot.bootstrap import App, build
from foi_mailbot.clock import FixedClock
from foi_mailbot.ingest import store
from foi_mailbot.settings import Settings
from foi_mailbot.sources import RawMail
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import CaseEvent, InboundMessage, OutboxMessage
from tests.integration.harness import fixture_mail

MONDAY = datetime(2026, 1, 12, 10, 0, tzinfo=UTC)
REQUESTER = "Michael Okafor <m.okafor@gmail.com>"


def _feed(app: App, raw: bytes, key: str) -> int:
    stored = store(app.factory, RawMail(f"test:{key}", "foi@example.gov.uk", "INBOX", None, None,
                                        MONDAY, raw, "inbound"), app.clock)
    app.pipeline.run_pending()
    return stored.message_pk


def _reasons_for(app: App, message_pk: int) -> list[str]:
    with session_scope(app.factory) as session:
        event = session.scalars(select(CaseEvent).where(CaseEvent.message_pk == message_pk)).one()
        return list(event.reasons or [])


def _ack(app: App) -> tuple[str, str]:
    with session_scope(app.factory) as session:
        ack = session.scalars(select(OutboxMessage)).one()
        assert ack.case is not None
        return ack.message_id, ack.case.reference


def test_a_reply_in_the_thread_that_names_no_reference_is_not_said_to_quote_one(
    settings: Settings,
) -> None:
    app = build(settings, clock=FixedClock(MONDAY))
    _feed(app, fixture_mail("new_request_plain_foia.eml"), "request")
    ack_id, _reference = _ack(app)

    reply = _feed(app, fixture_mail(
        "clarification_gmail_reply_bottom_quote.eml", From=REQUESTER, Subject="Re: my request",
        Message_ID="<reply-1@mail.gmail.com>", In_Reply_To=f"<{ack_id}>", References=f"<{ack_id}>",
    ), "reply")

    reasons = _reasons_for(app, reply)
    assert any("replies to a message on this case" in r for r in reasons)
    assert not any("quotes the reference" in r for r in reasons)
    app.close()


def test_a_reply_in_the_thread_that_names_the_reference_says_so(settings: Settings) -> None:
    app = build(settings, clock=FixedClock(MONDAY))
    _feed(app, fixture_mail("new_request_plain_foia.eml"), "request")
    ack_id, reference = _ack(app)

    reply = _feed(app, fixture_mail(
        "clarification_gmail_reply_bottom_quote.eml", From=REQUESTER,
        Subject=f"Re: {reference} my request", Message_ID="<reply-2@mail.gmail.com>",
        In_Reply_To=f"<{ack_id}>", References=f"<{ack_id}>",
    ), "reply")

    assert any(f"quotes the reference {reference}" in r for r in _reasons_for(app, reply))
    with session_scope(app.factory) as session:
        row = session.get(InboundMessage, reply)
        assert row is not None and row.case_id is not None
    app.close()
