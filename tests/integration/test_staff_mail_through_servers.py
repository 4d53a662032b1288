"""Staff mail that is not a reply in a case's thread, through a real Dovecot and SMTP server:
a fresh email filed in Sent that quotes a reference moves that case."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from foi_mailbot.settings import Settings
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import CaseEvent, InboundMessage
from tests.integration.harness import MONDAY, Harness, fixture_mail, reference_in, running
from tests.servers.dovecot import Dovecot
from tests.servers.smtp_sink import SmtpSink

pytestmark = pytest.mark.dovecot

REQUESTER = "m.okafor@gmail.com"
LATER = MONDAY + timedelta(days=3)


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
    h.deliver(fixture_mail("new_request_plain_foia.eml", Message_ID="<req-1@mail.gmail.com>"),
              at=MONDAY)
    h.cycle()
    return reference_in(str(h.acks_to(REQUESTER)[0].message["Subject"]))


def _fresh_staff_mail_in_sent(h: Harness, fixture: str, subject: str, msg_id: str) -> None:
    """A staff email written from scratch (no In-Reply-To, no References) and filed in Sent."""
    raw = fixture_mail(f"staff_corpus/{fixture}", From="Example Council FOI <foi@example.gov.uk>",
                       To=f"Michael Okafor <{REQUESTER}>", Subject=subject, Message_ID=msg_id)
    assert b"In-Reply-To" not in raw and b"References" not in raw
    h.clock.set(LATER)
    h.deliver(raw, at=LATER, folder="Sent")
    h.cycle()


def _row(h: Harness, msg_id: str) -> InboundMessage:
    with session_scope(h.app.factory) as session:
        row = session.scalars(
            select(InboundMessage).where(InboundMessage.message_id == msg_id.strip("<>"))
        ).one()
        session.expunge(row)
    return row


def test_a_fresh_extend_email_in_sent_quoting_the_reference_extends_the_case(
    harness: Harness,
) -> None:
    reference = _request(harness)
    due_before = harness.case().due_on
    assert due_before == date(2026, 2, 9)

    _fresh_staff_mail_in_sent(harness, "extend_further_20_working_days.eml",
                              f"[extend] {reference} Temporary accommodation placements",
                              "<staff-extend-1@example.gov.uk>")

    case = harness.case()
    assert "extended" == case.status
    assert date(2026, 3, 9) == case.due_on  # a further 20 working days, as the text says
    row = _row(harness, "<staff-extend-1@example.gov.uk>")
    assert row.case_id == case.id
    assert "extend" == (row.staff_reading or {})["action"]
    assert not row.needs_person


def test_a_fresh_email_with_natural_clarification_wording_stops_the_clock(
    harness: Harness,
) -> None:
    reference = _request(harness)

    _fresh_staff_mail_in_sent(harness, "clarify_which_station_road.eml",
                              f"{reference} - Parking enforcement on Station Road",
                              "<staff-clarify-1@example.gov.uk>")

    case = harness.case()
    assert "awaiting_clarification" == case.status
    assert case.due_on is None
    with session_scope(harness.app.factory) as session:
        event = session.scalars(select(CaseEvent).where(
            CaseEvent.case_id == case.id, CaseEvent.kind == "clarification_sought")).one()
        reasons = list(event.reasons or [])
    assert "read as clarify" in reasons[0]
    assert any("could you please confirm" in r for r in reasons)


def test_a_staff_email_on_a_case_that_cannot_be_read_goes_to_a_person(
    harness: Harness,
) -> None:
    reference = _request(harness)
    status_before = harness.case().status

    _fresh_staff_mail_in_sent(harness, "none_note_to_colleague.eml", f"RE: {reference}",
                              "<staff-note-1@example.gov.uk>")

    row = _row(harness, "<staff-note-1@example.gov.uk>")
    assert row.needs_person
    assert "could not be read as any action" in (row.attention_reason or "")
    assert row.case_id == harness.case().id
    assert status_before == harness.case().status


def test_a_reference_in_the_first_lines_of_a_fresh_email_names_the_case(
    harness: Harness,
) -> None:
    reference = _request(harness)
    raw = fixture_mail("staff_corpus/clarify_could_you_narrow.eml",
                       From="Example Council FOI <foi@example.gov.uk>",
                       To=f"Michael Okafor <{REQUESTER}>", Subject="Your request",
                       Message_ID="<staff-head-1@example.gov.uk>")
    raw = raw.replace(b"Dear Mr Briggs,", f"Our ref: {reference}\n\nDear Mr Briggs,".encode(), 1)
    harness.clock.set(LATER)
    harness.deliver(raw, at=LATER, folder="Sent")
    harness.cycle()

    assert "awaiting_clarification" == harness.case().status
    assert _row(harness, "<staff-head-1@example.gov.uk>").case_id == harness.case().id


def test_a_note_to_a_colleague_quoting_the_reference_moves_nothing_and_flags_nothing(
    harness: Harness,
) -> None:
    """'Could you confirm which...' to a colleague must not stop the requester's clock."""
    reference = _request(harness)
    due_before = harness.case().due_on
    raw = fixture_mail("staff_corpus/clarify_which_station_road.eml",
                       From="Priya Nair <priya.nair@example.gov.uk>",
                       To="Parking Services <parking.services@example.gov.uk>",
                       Subject=f"FW: {reference} Station Road figures",
                       Message_ID="<staff-internal-1@example.gov.uk>")
    harness.clock.set(LATER)
    harness.deliver(raw, at=LATER, folder="Sent")
    harness.cycle()

    row = _row(harness, "<staff-internal-1@example.gov.uk>")
    assert (row.case_id, row.needs_person) == (harness.case().id, False)
    assert (harness.case().status, harness.case().due_on) == ("acknowledged", due_before)
    assert (row.staff_reading or {}).get("internal") is True
