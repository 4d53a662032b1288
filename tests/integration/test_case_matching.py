"""Finding the right case: threads, per-request senders, references, strangers and typos."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from typer.testing import CliRunner

from foi_mailbot.bootstrap import App, build
from foi_mailbot.cli import app as cli
from foi_mailbot.clock import FixedClock
from foi_mailbot.ingest import store
from foi_mailbot.settings import Settings
from foi_mailbot.sources import RawMail
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import Case, InboundMessage
from tests.integration.harness import fixture_mail

MONDAY = datetime(2026, 1, 12, 10, 0, tzinfo=UTC)


def _feed(app: App, raw: bytes, key: str) -> InboundMessage:
    stored = store(app.factory, RawMail(f"test:{key}", "foi@example.gov.uk", "INBOX", None, None,
                                        MONDAY, raw, "inbound"), app.clock)
    app.pipeline.run_pending()
    with session_scope(app.factory) as session:
        row = session.get(InboundMessage, stored.message_pk)
        assert row is not None
        return row


def _cases(app: App) -> list[Case]:
    with session_scope(app.factory) as session:
        return list(session.scalars(select(Case).order_by(Case.id)))


def test_whatdotheyknow_reply_address_threads_to_its_request(settings: Settings) -> None:
    """A reply from a request's own WhatDoTheyKnow address joins that case, opening none."""
    app = build(settings, clock=FixedClock(MONDAY))
    _feed(app, fixture_mail("new_request_wdtk.eml"), "1")

    reply = _feed(app, fixture_mail("clarification_wdtk_reply.eml"), "2")

    cases = _cases(app)
    assert 1 == len(cases)
    assert cases[0].id == reply.case_id
    assert "clarification" == reply.kind


def test_review_request_opens_a_linked_review_with_its_own_reference_and_clock(
    settings: Settings,
) -> None:
    """An internal review request opens a review case linked to the original."""
    app = build(settings, clock=FixedClock(MONDAY))
    _feed(app, fixture_mail("new_request_wdtk.eml"), "1")

    row = _feed(app, fixture_mail("review_request_wdtk.eml"), "2")

    original, review = _cases(app)
    assert "review_request" == row.kind
    assert review.original_case_id == original.id
    assert "review_foia" == review.law
    assert review.reference != original.reference
    assert review.due_on is not None


def test_stranger_quoting_someone_elses_reference_is_attached_but_flagged(
    settings: Settings,
) -> None:
    """A reference quoted by someone who is not the requester is flagged for a person."""
    app = build(settings, clock=FixedClock(MONDAY))
    _feed(app, fixture_mail("new_request_plain_foia.eml"), "1")
    reference = _cases(app)[0].reference

    row = _feed(app, fixture_mail("clarification_reference_in_subject.eml",
                                  Subject=f"{reference} - more detail",
                                  From="Someone Else <stranger@example.net>"), "2")

    assert row.needs_person
    assert "not from that case's requester" in (row.attention_reason or "")
    assert 1 == len(_cases(app))


def test_mistyped_reference_is_flagged_never_guessed(settings: Settings) -> None:
    """A reference with a wrong check suffix attaches to nothing and asks a person."""
    app = build(settings, clock=FixedClock(MONDAY))
    _feed(app, fixture_mail("new_request_plain_foia.eml"), "1")
    reference = _cases(app)[0].reference
    wrong = reference[:-2] + ("A0" if reference[-2:] != "A0" else "B1")

    row = _feed(app, fixture_mail("clarification_reference_in_subject.eml",
                                  Subject=f"{wrong} - clarification",
                                  From="Michael Okafor <m.okafor@gmail.com>"), "2")

    assert row.needs_person
    assert "mistyped" in (row.attention_reason or "")
    assert row.case_id is None or row.case_id == _cases(app)[0].id
    assert 1 == len(_cases(app))

    listed = CliRunner().invoke(cli, ["triage", "--json"], env=_env(settings))
    assert 0 == listed.exit_code
    assert "mistyped" in listed.output


def _env(settings: Settings) -> dict[str, str]:
    assert settings.database.url is not None
    return {
        "FOI_MAILBOT_DATABASE__URL": settings.database.url.get_secret_value(),
        "FOI_MAILBOT_ORGANISATION__REFERENCE_SECRET": "test-secret",
    }


def test_a_same_subject_message_that_replies_to_nothing_attaches_flagged_and_moves_no_clock(
    settings: Settings,
) -> None:
    """Found by its sender and subject alone (no In-Reply-To, no reference): a guess. It joins
    the case for a person to check; the due date stays as it was."""
    app = build(settings, clock=FixedClock(MONDAY))
    request = _feed(app, fixture_mail("new_request_plain_foia.eml"), "1")
    before = _cases(app)[0]
    subject = request.subject or ""
    follow_up = (
        f"From: {request.from_name} <{request.from_email}>\r\n"
        "To: foi@example.gov.uk\r\n"
        f"Subject: Re: {subject}\r\n"
        "Date: Mon, 12 Jan 2026 11:00:00 +0000\r\n"
        "Message-ID: <same-subject-1@mail.example.org>\r\n"
        "\r\n"
        "Hello,\r\n\r\nTo clarify my request above: I only need the figures for 2025.\r\n\r\n"
        "Thanks\r\n"
    ).encode()

    row = _feed(app, follow_up, "2")

    after = _cases(app)[0]
    assert before.id == row.case_id
    assert row.needs_person
    assert (before.status, before.due_on) == (after.status, after.due_on)
