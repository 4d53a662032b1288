"""A message's headers are claims: strangers in a thread, forged staff, forged requesters and
reflected letters change nothing and send nothing anywhere but to the requester."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import select

from foi_mailbot.bootstrap import App, build
from foi_mailbot.clock import FixedClock
from foi_mailbot.settings import Settings
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import Case, InboundMessage, OutboxMessage
from foi_mailbot.storage.state import put_state
from tests.integration.harness import feed

FIXTURES = Path(__file__).parents[1] / "fixtures"
MONDAY = datetime(2026, 1, 12, 10, 0, tzinfo=UTC)
REQUESTER = "m.okafor@gmail.com"


def _mail(name: str) -> bytes:
    return (FIXTURES / "trust" / name).read_bytes()


@pytest.fixture
def app(make_settings: Callable[..., Settings], db_url: str) -> App:
    settings = make_settings(db=db_url, mailbox={"authserv_id": "mx1.example.gov.uk"})
    return build(settings, clock=FixedClock(MONDAY))


def _feed(app: App, raw: bytes, key: str, *, sent: bool = False, days: int = 0) -> InboundMessage:
    at = MONDAY + timedelta(days=days)
    return feed(app, raw, key, at=at, sent=sent)


def _case(app: App) -> Case:
    with session_scope(app.factory) as session:
        case = session.scalars(select(Case)).one()
        session.expunge(case)
        return case


def _letters(app: App) -> list[tuple[str, bytes]]:
    with session_scope(app.factory) as session:
        return [(r.to_email, r.raw) for r in session.scalars(select(OutboxMessage))]


def _awaiting_clarification(app: App) -> Case:
    request = (FIXTURES / "new_request_plain_foia.eml").read_bytes()
    _feed(app, request, "request")
    _feed(app, _mail("staff_clarify_sent_folder.eml"), "clarify", sent=True, days=1)
    case = _case(app)
    assert "awaiting_clarification" == case.status
    return case


@pytest.mark.parametrize("fixture", [
    "stranger_reply_in_requester_thread.eml",
    "forged_requester_from_with_reply_to.eml",
    "requester_dmarc_fail_trusted_header.eml",
])
def test_mail_in_a_clarification_thread_not_from_the_requester_changes_nothing(
    app: App, fixture: str
) -> None:
    """A stranger, a forged From with a Reply-To, or a From our server says failed DMARC (a
    forged pass below it notwithstanding): attached, flagged, clock unchanged, nothing sent."""
    before = _awaiting_clarification(app)
    letters = _letters(app)

    row = _feed(app, _mail(fixture), "reply", days=2)

    after = _case(app)
    assert row.case_id == after.id
    assert row.needs_person
    assert "nothing changed" in (row.attention_reason or "")
    assert "awaiting_clarification" == after.status
    assert before.due_on == after.due_on
    assert letters == _letters(app)


def test_the_requesters_own_clarification_still_restarts_the_clock(app: App) -> None:
    """The same reply from the requester's own address restarts the clock and is acknowledged."""
    _awaiting_clarification(app)
    raw = _mail("stranger_reply_in_requester_thread.eml").replace(
        b"From: Kevin Dawes <k.dawes@outlook.com>", b"From: Michael Okafor <m.okafor@gmail.com>")

    row = _feed(app, raw, "reply", days=2)

    assert not row.needs_person
    assert "requested" != _case(app).status
    assert "awaiting_clarification" != _case(app).status
    assert [REQUESTER, REQUESTER] == [to for to, _raw in _letters(app)]


@pytest.mark.parametrize("fixture", [
    "staff_close_inbox_unauthenticated.eml",
    "staff_close_inbox_forged_pass_below.eml",
])
def test_inbox_staff_mail_without_a_trusted_pass_proposes_its_action(
    app: App, fixture: str
) -> None:
    """A staff From in the inbox that our server did not vouch for: the action is proposed for
    a person to confirm, and the case does not move."""
    _feed(app, (FIXTURES / "new_request_plain_foia.eml").read_bytes(), "request")
    before = _case(app)

    row = _feed(app, _mail(fixture), "staff", days=1)

    assert row.needs_person
    assert "confirm the proposed close" in (row.attention_reason or "")
    assert before.status == _case(app).status
    assert _case(app).completed_on is None


def test_inbox_staff_mail_our_server_vouches_for_acts(app: App) -> None:
    """The same message with our server's dmarc=pass closes the case."""
    _feed(app, (FIXTURES / "new_request_plain_foia.eml").read_bytes(), "request")

    row = _feed(app, _mail("staff_close_inbox_dmarc_pass.eml"), "staff", days=1)

    assert not row.needs_person
    assert "closed" == _case(app).status


@pytest.mark.parametrize("fixture", [
    "new_request_reply_to_someone_else.eml",
    "new_request_web_form_noreply_from.eml",
])
def test_no_sender_chosen_text_reaches_an_address_other_than_from(
    app: App, fixture: str
) -> None:
    """A request naming someone else in Reply-To: acknowledged at From; a web form's no-reply
    From: acknowledged at Reply-To with no subject or name the sender chose."""
    raw = _mail(fixture)
    sender = message_from_bytes(raw, policy=policy.default)["From"].addresses[0].addr_spec

    _feed(app, raw, "request")

    [(to, letter)] = _letters(app)
    if to == sender.lower():
        return  # answered where it came from
    assert "pat.victim@example.org" == to
    text = letter.decode("utf-8", "replace").lower()
    assert "prize" not in text
    assert "claim" not in text


def test_a_sender_a_person_accepted_on_the_case_acts_as_the_requester_does(app: App) -> None:
    """After `accept sender` (the requester's agent, say), their clarification restarts the
    clock like the requester's own; anyone else is still flagged."""
    _awaiting_clarification(app)
    case = _case(app)
    with session_scope(app.factory) as session:
        put_state(session, f"accepted_sender:{case.reference}",
                  {"email": "k.dawes@outlook.com", "by": "foi@example.gov.uk"}, app.clock.now())

    row = _feed(app, _mail("stranger_reply_in_requester_thread.eml"), "reply", days=2)

    assert not row.needs_person
    assert "awaiting_clarification" != _case(app).status
