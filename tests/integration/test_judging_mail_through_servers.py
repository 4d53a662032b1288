"""Judging real-shaped mail end to end, through a real Dovecot and a real SMTP server: what is
not a request gets no acknowledgement and waits for a person; a follow-up never opens a second
case; a request to a director with our mailbox in Cc is a case; the regulator's letter joins
the case it names; an environmental request is an EIR case; a subject access request gets its
own case and clock, and the data protection officer a copy."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from foi_mailbot.clock import FixedClock
from foi_mailbot.settings import Settings
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import Case, InboundMessage
from tests.integration.harness import (
    FIXTURES,
    Harness,
    body_text,
    fixture_mail,
    imap_settings,
    reference_in,
)
from tests.servers.dovecot import Dovecot
from tests.servers.smtp_sink import SmtpSink

pytestmark = pytest.mark.dovecot

MONDAY = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
DPO = "dpo@example.gov.uk"


@pytest.fixture
def harness(
    make_settings: Callable[..., Settings],
    dovecot: Dovecot,
    smtp_sink: SmtpSink,
    db_url: str,
) -> Iterator[Harness]:
    """A daemon on Dovecot and the SMTP sink, with a DPO to copy subject access requests to."""
    base = imap_settings(make_settings, dovecot, smtp_sink, db_url)
    org = base.organisation.model_copy(update={"dpo_address": DPO})
    h = Harness.start(base.model_copy(update={"organisation": org}), dovecot, smtp_sink,
                      FixedClock(MONDAY))
    yield h
    h.close()


def corpus_mail(name: str, **headers: str) -> bytes:
    """A message of the labelled corpus, some headers replaced."""
    return fixture_mail(f"corpus/{name}", **headers)


def row_of(h: Harness, message_id: str) -> InboundMessage:
    """The stored message with this Message-ID."""
    with session_scope(h.app.factory) as session:
        row = session.scalars(
            select(InboundMessage).where(InboundMessage.message_id == message_id)
        ).one()
        session.expunge(row)
        return row


def cases(h: Harness) -> list[Case]:
    """Every case, oldest first."""
    with session_scope(h.app.factory) as session:
        found = list(session.scalars(select(Case).order_by(Case.id)))
        session.expunge_all()
        return found


def test_phishing_a_complaint_and_an_objection_get_no_acknowledgement_and_wait_for_a_person(
    harness: Harness,
) -> None:
    """None of the three opens a case or gets a reply; each is a triage item with reasons."""
    names = ["not_foi_phishing_verify_mailbox_link.eml", "not_foi_complaint_streetlight_out.eml",
             "not_foi_planning_objection_extension.eml"]
    for name in names:
        harness.deliver(corpus_mail(name), at=MONDAY)
    harness.cycle()

    assert [] == harness.sink.messages
    assert [] == cases(harness)
    with session_scope(harness.app.factory) as session:
        waiting = list(session.scalars(
            select(InboundMessage).where(InboundMessage.needs_person.is_(True))))
        assert 3 == len(waiting)
        assert {"not_foi"} == {row.kind for row in waiting}
        assert all("not an FOI request" in (row.attention_reason or "") for row in waiting)


def test_a_chaser_on_a_thread_we_never_saw_attaches_to_the_open_case_without_a_second_ack(
    harness: Harness,
) -> None:
    """The requester's 'Re: Your FOI request' joins their only open case, flagged as a guess;
    one case, one acknowledgement, the due date unchanged."""
    harness.deliver(corpus_mail("new_request_plain_gmail_parking_fines.eml"), at=MONDAY)
    harness.cycle()
    due = harness.case().due_on
    chaser = corpus_mail(
        "clarification_re_your_foi_request_any_update_open_case.eml",
        From="Tom Hargreaves <tom.hargreaves84@gmail.com>",
        In_Reply_To="<never-stored-0001@mail.gmail.com>",
    )
    harness.deliver(chaser, at=MONDAY)
    harness.cycle()

    assert 1 == len(harness.acks_to("tom.hargreaves84@gmail.com"))
    [case] = cases(harness)
    row = row_of(harness, "B1C2D3E4-F5A6-4B7C-8D9E-0F1A2B3C4D5E@icloud.com")
    assert "clarification" == row.kind
    assert case.id == row.case_id
    assert row.needs_person
    assert "guess" in (row.attention_reason or "")
    assert due == case.due_on


def test_a_request_to_a_director_with_our_mailbox_in_cc_opens_a_case(harness: Harness) -> None:
    """Addressed to someone at the authority and asking for information: a request."""
    harness.deliver(corpus_mail("new_request_cc_foi_to_director_of_housing.eml"), at=MONDAY)
    harness.cycle()

    acks = harness.acks_to("leon.fairweather@yahoo.co.uk")
    assert 1 == len(acks)
    assert "foia" == harness.case(reference_in(str(acks[0].message["Subject"]))).law


def test_an_ico_letter_is_attached_to_the_case_it_names_and_flagged_never_answered(
    harness: Harness,
) -> None:
    """The investigation letter quotes our reference: attached, flagged with its deadline."""
    harness.deliver(corpus_mail("new_request_plain_gmail_parking_fines.eml"), at=MONDAY)
    harness.cycle()
    reference = harness.case().reference
    letter = (FIXTURES / "corpus" / "clarification_regulator_ico_investigation_letter.eml")
    raw = letter.read_bytes().replace(b"IC-000160-Y9S7", reference.encode())
    harness.deliver(raw, at=MONDAY)
    harness.cycle()

    assert [] == harness.acks_to("casework@ico.org.uk")
    row = row_of(harness, "ICO.20260413.110000.384512@ico.org.uk")
    assert "clarification" == row.kind
    assert "regulator_mail" == row.rule
    assert harness.case(reference).id == row.case_id
    assert row.needs_person
    reason = row.attention_reason or ""
    assert "regulator" in reason
    assert "within 20 working days" in reason


def test_an_environmental_request_that_does_not_name_the_eir_is_an_eir_case(
    harness: Harness,
) -> None:
    """Tree felling in a park: the EIR apply, and the acknowledgement names them."""
    harness.deliver(corpus_mail("new_request_env_tree_felling_park.eml"), at=MONDAY)
    harness.cycle()

    acks = harness.acks_to("fiona.mcbride@gmail.com")
    assert 1 == len(acks)
    assert "eir" == harness.case().law
    assert "Environmental Information Regulations" in body_text(acks[0].message)


def test_a_subject_access_request_gets_a_one_month_case_and_the_dpo_a_copy(
    harness: Harness,
) -> None:
    """'Under FOI, all the emails about me' is a SAR: its own acknowledgement, due in a month."""
    harness.deliver(corpus_mail("not_foi_sar_under_foi_all_emails_about_me.eml"), at=MONDAY)
    harness.cycle()

    [case] = cases(harness)
    assert "sar" == case.law
    assert "2026-04-02" == case.due_on.isoformat()
    acks = harness.acks_to("gtully@virginmedia.com")
    assert 1 == len(acks)
    assert "subject access request" in body_text(acks[0].message)
    copies = harness.acks_to(DPO)
    assert 1 == len(copies)
    assert case.reference in str(copies[0].message["Subject"])
