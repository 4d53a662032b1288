"""Triage notices: one per undecided message, exactly once, with candidate cases and commands;
set-aside mail in one daily summary; the digest and `triage` agree on what is open."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes

from sqlalchemy import select

from foi_mailbot.bootstrap import App, build
from foi_mailbot.clock import FixedClock
from foi_mailbot.ingest import store
from foi_mailbot.jobs.stats import count_flagged
from foi_mailbot.settings import Settings
from foi_mailbot.sources import RawMail
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import Case, InboundMessage, OutboxMessage, TriageItem
from foi_mailbot.triage import notices
from foi_mailbot.triage.items import open_items, settle
from tests.integration.harness import fixture_mail

MONDAY = datetime(2026, 1, 12, 10, 0, tzinfo=UTC)


def test_defang_makes_links_unclickable() -> None:
    """Quoted links cannot be followed from the notice."""
    assert "see hxxps://evil[.]example[.]com/login" == notices.defang(
        "see https://evil.example.com/login")


def _deliver(app: App, key: str, raw: bytes) -> None:
    store(app.factory, RawMail(f"t:{key}", "foi@example.gov.uk", "INBOX", None, None, MONDAY, raw,
                               "inbound"), app.clock)
    app.pipeline.run_pending()


def test_a_stray_follow_up_gets_one_notice_with_its_candidate_case(settings: Settings) -> None:
    """The notice names the sender's open case, the commands, the token; it goes once."""
    app = build(settings, clock=FixedClock(MONDAY))
    _deliver(app, "1", fixture_mail("new_request_plain_foia.eml"))
    with session_scope(app.factory) as session:
        reference = session.scalars(select(Case.reference)).first()
    _deliver(app, "2", fixture_mail("clarification_reference_in_subject.eml",
                                    Subject=f"Re: my request {reference}",
                                    From="Someone Else <stranger@example.net>"))
    with session_scope(app.factory) as session:
        flagged = session.scalars(select(InboundMessage).where(
            InboundMessage.needs_person.is_(True))).all()
        reference = session.scalars(select(Case.reference)).first()
    assert flagged, "the follow-up should need a person"

    notices.sweep(app.factory, app.services, MONDAY)
    notices.sweep(app.factory, app.services, MONDAY + timedelta(minutes=5))

    with session_scope(app.factory) as session:
        (notice,) = session.scalars(select(OutboxMessage).where(
            OutboxMessage.key.like("triage:%:notice"))).all()
        token = session.scalars(select(TriageItem.token)).one()
        mail = message_from_bytes(notice.raw)
    assert "foi-team@example.gov.uk" == notice.to_email
    assert f"[FOI triage {token}]" in mail["Subject"]
    assert "auto-generated" == mail["Auto-Submitted"]
    text = mail.get_payload()[0].get_payload(decode=True).decode()
    assert reference is not None and f"link {reference}" in text
    assert "message/rfc822" == mail.get_payload()[1].get_content_type()


def test_a_thousand_set_aside_messages_make_one_summary_and_the_counts_agree(
    settings: Settings,
) -> None:
    """1,000 not-FOI messages: one summary, not 1,000 notices; digest and triage count alike;
    the queue empties as items are settled."""
    app = build(settings, clock=FixedClock(MONDAY))
    with session_scope(app.factory) as session:
        session.add_all(
            InboundMessage(mailbox="foi@example.gov.uk", folder="INBOX", direction="inbound",
                           arrived_at=MONDAY, stored_at=MONDAY, content_hash=f"h{i}", size=10,
                           status="applied", kind="not_foi", needs_person=True,
                           subject=f"Offer {i}", from_email=f"seo{i}@example.net",
                           attention_reason="not an FOI request: marketing")
            for i in range(1000))

    queued = notices.sweep(app.factory, app.services, MONDAY)

    with session_scope(app.factory) as session:
        outbox = session.scalars(select(OutboxMessage.key)).all()
        assert 1000 == count_flagged(session) == len(open_items(session))
        for item in session.scalars(select(TriageItem)):
            settle(item, by="test", command="not foi", now=MONDAY, undo=None)
    assert 1 == queued
    assert ["triage:summary:2026-01-12"] == list(outbox)
    with session_scope(app.factory) as session:
        assert 0 == count_flagged(session) == len(open_items(session))


def test_the_digest_lists_open_items_with_their_subjects(settings: Settings) -> None:
    """The digest's list of messages needing a person shows each one's subject, and its count
    is the count `triage` gives."""
    from foi_mailbot.jobs.digest import build_digest, render_digest

    app = build(settings, clock=FixedClock(MONDAY))
    _deliver(app, "1", fixture_mail("not_foi_invoice.eml", Subject="Invoice 4471 overdue"))
    with session_scope(app.factory) as session:
        digest = build_digest(session, app.settings, app.services.calendars, MONDAY)
        listed = len(open_items(session))
    text, page = render_digest(app.services.acks.env, digest)

    assert listed == digest.needs_person_total == 1
    assert '"Invoice 4471 overdue"' in text
    assert "Invoice 4471 overdue" in page


def test_a_mistyped_reference_names_its_case_and_an_item_left_open_is_reminded(
    make_settings, db_url: str  # type: ignore[no-untyped-def]
) -> None:
    """The case whose number a mistyped reference quotes is a candidate; notices go to
    `[triage] address`; an item open two working days is in the next reminder, once."""
    settings = make_settings(db=db_url, triage={"address": "triage@example.gov.uk"})
    app = build(settings, clock=FixedClock(MONDAY))
    _deliver(app, "1", fixture_mail("new_request_plain_foia.eml"))
    with session_scope(app.factory) as session:
        reference = session.scalars(select(Case.reference)).one()
    mistyped = reference[:-1] + ("A" if reference[-1] != "A" else "B")
    _deliver(app, "2", fixture_mail("clarification_reference_in_subject.eml",
                                    Subject=f"Re: {mistyped}",
                                    From="Someone Else <stranger@example.net>"))
    with session_scope(app.factory) as session:  # held for a person, as a doubtful kind is
        row = session.scalars(select(InboundMessage).order_by(InboundMessage.id.desc())).first()
        assert row is not None
        row.needs_person, row.case_id = True, None

    notices.sweep(app.factory, app.services, MONDAY)
    for later in (timedelta(days=3), timedelta(days=3, hours=1)):
        notices.sweep(app.factory, app.services, MONDAY + later)

    with session_scope(app.factory) as session:
        rows = {r.key: r for r in session.scalars(select(OutboxMessage))
                if r.key.startswith("triage:")}
        notice = next(r for k, r in rows.items() if k.endswith(":notice"))
        assert "triage@example.gov.uk" == notice.to_email
        text = message_from_bytes(notice.raw).get_payload()[0].get_payload(decode=True)
        assert f"link {reference}".encode() in text
        assert ["triage:reminder:2026-01-15"] == [k for k in rows if "reminder" in k]
