"""Acknowledgements and staff replies through a real Dovecot and a real SMTP server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from foi_mailbot.settings import Settings
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import InboundMessage
from tests.integration.harness import (
    MONDAY,
    Harness,
    body_text,
    fixture_mail,
    reference_in,
    running,
)
from tests.servers.dovecot import Dovecot
from tests.servers.smtp_sink import SmtpSink

pytestmark = pytest.mark.dovecot

REQUESTER = "m.okafor@gmail.com"
REQUEST_ID = "<request-1@mail.gmail.com>"


@pytest.fixture
def harness(
    make_settings: Callable[..., Settings],
    dovecot: Dovecot,
    smtp_sink: SmtpSink,
    db_url: str,
) -> Iterator[Harness]:
    """A daemon on Dovecot and the SMTP sink, its clock at Monday 12 January 2026."""
    with running(make_settings, dovecot, smtp_sink, db_url) as h:
        yield h


def _request(h: Harness) -> str:
    h.deliver(fixture_mail("new_request_plain_foia.eml", Message_ID=REQUEST_ID), at=MONDAY)
    h.cycle()
    acks = h.acks_to(REQUESTER)
    assert 1 == len(acks)
    return reference_in(str(acks[0].message["Subject"]))


def _staff(h: Harness, fixture: str, subject: str, at: datetime, msg_id: str) -> None:
    ack_id = str(h.acks_to(REQUESTER)[0].message["Message-ID"])
    raw = fixture_mail(fixture, From="Example Council FOI <foi@example.gov.uk>",
                       To=f"Michael Okafor <{REQUESTER}>", Subject=subject,
                       Message_ID=msg_id, In_Reply_To=ack_id, References=ack_id)
    h.clock.set(at)
    h.deliver(raw, at=at, folder="Sent")
    h.cycle()


def test_new_request_gets_exactly_one_acknowledgement_with_due_date_and_loop_headers(
    harness: Harness,
) -> None:
    """One acknowledgement reaches SMTP with the reference, the due date and RFC 3834 headers."""
    reference = _request(harness)
    harness.cycle()

    acks = harness.acks_to(REQUESTER)
    assert 1 == len(acks)
    ack = acks[0].message
    assert "auto-replied" == ack["Auto-Submitted"]
    assert "All" == ack["X-Auto-Response-Suppress"]
    assert "auto_reply" == ack["Precedence"]
    assert REQUEST_ID == ack["In-Reply-To"]
    text = body_text(ack)
    assert reference in text
    assert "9 February 2026" in text
    assert harness.case().due_on == date(2026, 2, 9)
    sent_copies = harness.dovecot.list_uids("Sent")
    assert 1 == len(sent_copies)
    assert [] == harness.dovecot.list_uids("INBOX")


def test_our_own_copies_in_sent_are_passed_over_and_staff_mail_there_is_read(
    harness: Harness,
) -> None:
    """The acknowledgement's Sent copy is never fetched or stored; a staff reply beside it is."""
    reference = _request(harness)
    harness.cycle()
    _staff(harness, "staff_actions/clarify_question_quoting_request.eml",
           f"RE: [{reference}] your request",
           datetime(2026, 1, 13, 10, tzinfo=UTC), "<staff-q-1@example.gov.uk>")

    with session_scope(harness.app.factory) as session:
        sent_rows = list(session.scalars(
            select(InboundMessage.message_id).where(InboundMessage.direction == "sent")))
    assert ["staff-q-1@example.gov.uk"] == sent_rows
    assert 2 == len(harness.dovecot.list_uids("Sent"))


def test_clarification_question_then_answer_restarts_the_clock(harness: Harness) -> None:
    """Staff ask for clarification (clock stops); the answer restarts 20 working days."""
    reference = _request(harness)
    _staff(harness, "staff_actions/clarify_question_quoting_request.eml", f"RE: [{reference}] your request",
           MONDAY + timedelta(days=1), "<staff-clarify@example.gov.uk>")
    assert "awaiting_clarification" == harness.case().status
    assert harness.case().due_on is None

    answer_at = datetime(2026, 1, 20, 15, 0, tzinfo=UTC)
    harness.clock.set(answer_at)
    harness.deliver(fixture_mail(
        "clarification_gmail_reply_bottom_quote.eml", From=f"Michael Okafor <{REQUESTER}>",
        To="foi@example.gov.uk", Subject=f"Re: [{reference}] your request",
        Message_ID="<answer-1@mail.gmail.com>", In_Reply_To="<staff-clarify@example.gov.uk>",
    ), at=answer_at)
    harness.cycle()

    case = harness.case()
    assert "acknowledged" == case.status
    assert date(2026, 2, 17) == case.due_on
    acks = harness.acks_to(REQUESTER)
    assert 2 == len(acks)
    assert "17 February 2026" in body_text(acks[1].message)
    assert "clarification on Tuesday 20 January 2026" in " ".join(body_text(acks[1].message).split())


def test_extend_tag_moves_the_deadline(harness: Harness) -> None:
    """A staff reply tagged [extend 2026-03-09] sets that due date."""
    reference = _request(harness)

    _staff(harness, "staff_actions/extend_further_working_days_no_date.eml",
           f"[extend 2026-03-09] RE: [{reference}] your request", MONDAY + timedelta(days=10),
           "<staff-extend@example.gov.uk>")

    case = harness.case()
    assert "extended" == case.status
    assert date(2026, 3, 9) == case.due_on


def test_response_closes_the_case_on_time_with_its_outcome(harness: Harness) -> None:
    """A refusal citing section 43(2) marks the case responded, on time, refused."""
    reference = _request(harness)

    _staff(harness, "staff_actions/respond_refused_s43_s36.eml", f"RE: [{reference}] your request",
           MONDAY + timedelta(days=14), "<staff-respond@example.gov.uk>")

    case = harness.case()
    assert "responded" == case.status
    assert case.on_time is True
    assert "refused" == case.outcome
    assert "section 43(2)" in (case.sections or [])


def test_late_response_is_recorded_as_late(harness: Harness) -> None:
    """A response after the due date is marked late."""
    reference = _request(harness)

    _staff(harness, "staff_actions/respond_information_provided_attached.eml",
           f"RE: [{reference}] your request", datetime(2026, 2, 16, 9, tzinfo=UTC),
           "<staff-late@example.gov.uk>")

    case = harness.case()
    assert "responded" == case.status
    assert case.on_time is False


def test_auto_responder_exchanges_at_most_one_message_with_us(harness: Harness) -> None:
    """A peer that answers every mail with an out-of-office gets one acknowledgement only."""
    _request(harness)
    for round_ in range(5):
        for delivery in list(harness.acks_to(REQUESTER)):
            harness.deliver(fixture_mail(
                "auto_reply_ooo_no_headers.eml", From=f"Michael Okafor <{REQUESTER}>",
                To="foi@example.gov.uk", Subject=f"Out of Office: {delivery.message['Subject']}",
                Message_ID=f"<ooo-{round_}-{id(delivery)}@mail.gmail.com>",
                In_Reply_To=str(delivery.message["Message-ID"]),
            ))
        harness.cycle()

    assert 1 == len(harness.acks_to(REQUESTER))


def test_header_and_template_injection_are_shown_as_text(harness: Harness) -> None:
    """CR/LF in subject and name add no headers; template code and HTML stay inert text."""
    raw = fixture_mail(
        "new_request_plain_foia.eml",
        From="=?utf-8?b?RXZpbA0KQmNjOiB2aWN0aW1AZXhhbXBsZS5vcmc=?= <" + REQUESTER + ">",
        Subject="=?utf-8?b?e3sgNyo3IH19IDxzY3JpcHQ+YWxlcnQoMSk8L3NjcmlwdD4NCkJjYzogdmljdGltQGV4YW1wbGUub3Jn?=",
        Message_ID="<inject@mail.gmail.com>",
    )
    harness.deliver(raw, at=MONDAY)
    harness.cycle()

    deliveries = harness.sink.messages
    assert 1 == len(deliveries)
    assert (REQUESTER,) == deliveries[0].rcpt_tos
    ack = deliveries[0].message
    assert ack["Bcc"] is None
    assert "\n" not in str(ack["Subject"])
    assert "49" not in str(ack["Subject"])
    html = ack.get_body(("html",))
    assert html is not None
    content = str(html.get_content())  # type: ignore[attr-defined]
    assert "<script>" not in content


def test_acknowledgement_waits_while_smtp_refuses_and_goes_once_it_returns(
    harness: Harness,
) -> None:
    """SMTP refusing connections delays the acknowledgement; it is delivered once back."""
    harness.sink.stop()
    harness.deliver(fixture_mail("new_request_plain_foia.eml", Message_ID=REQUEST_ID), at=MONDAY)
    harness.cycle()
    assert 1 == harness.app.outbox.backlog()

    harness.sink.start()
    harness.clock.advance(timedelta(minutes=5))
    harness.cycle()
    harness.clock.advance(timedelta(minutes=5))
    harness.cycle()

    assert 1 == len(harness.acks_to(REQUESTER))
    assert 0 == harness.app.outbox.backlog()
