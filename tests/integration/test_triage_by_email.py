"""Triage by email through a real Dovecot and a real SMTP server: a stray follow-up is flagged,
the team gets one notice, a reply filed in Sent links it and restarts the clock, the sender is
told the new due date, and `undo` puts it back."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from foi_mailbot.cases.lifecycle import Event, State
from foi_mailbot.cases.register import move, refresh_deadline
from foi_mailbot.clock import FixedClock
from foi_mailbot.deadlines.laws import EventKind
from foi_mailbot.settings import Settings
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import Case
from foi_mailbot.triage import notices
from tests.integration.harness import Harness, body_text, fixture_mail, imap_settings, reference_in
from tests.servers.dovecot import Dovecot
from tests.servers.smtp_sink import SmtpSink

pytestmark = pytest.mark.dovecot

TEAM = "foi-team@example.gov.uk"
MONDAY = datetime(2026, 1, 12, 10, 0, tzinfo=UTC)
TUESDAY = MONDAY + timedelta(days=1)
THURSDAY = MONDAY + timedelta(days=3)


@pytest.fixture
def harness(
    make_settings: Callable[..., Settings], dovecot: Dovecot, smtp_sink: SmtpSink, db_url: str,
) -> Iterator[Harness]:
    """A daemon on Dovecot and the SMTP sink, its clock at Monday 12 January 2026."""
    h = Harness.start(imap_settings(make_settings, dovecot, smtp_sink, db_url), dovecot,
                      smtp_sink, FixedClock(MONDAY))
    yield h
    h.close()


def _to_team(h: Harness) -> list[str]:
    return [str(d.message["Subject"]) for d in h.acks_to(TEAM)]


def _reply_in_sent(h: Harness, subject: str, command: str, n: int, at: datetime) -> None:
    raw = (f"From: Example Council FOI <foi@example.gov.uk>\r\nTo: {TEAM}\r\n"
           f"Subject: RE: {subject}\r\nDate: {at:%a, %d %b %Y %H:%M:%S +0000}\r\n"
           f"Message-ID: <triage-reply-{n}@EXAMPLE.PROD.OUTLOOK.COM>\r\nMIME-Version: 1.0\r\n"
           "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
           f"{command}\r\n\r\nJane\r\n\r\n________________________________\r\n"
           f"From: Example Council FOI <foi@example.gov.uk>\r\nSubject: {subject}\r\n\r\n"
           "A message needs a person to decide what it is.\r\n").encode()
    h.clock.set(at)
    h.deliver(raw, at=at, folder="Sent")
    h.cycle()


def test_a_stray_follow_up_is_linked_by_a_reply_in_sent_and_undone(harness: Harness) -> None:
    """Flagged -> one notice with the candidate case -> `link` in Sent attaches it and restarts
    the clock from its own arrival -> confirmation with the new due date -> `undo` restores."""
    h = harness
    h.deliver(fixture_mail("new_request_plain_foia.eml"), at=MONDAY)
    h.cycle()
    reference = reference_in(str(h.acks_to("m.okafor@gmail.com")[0].message["Subject"]))
    with session_scope(h.app.factory) as session:
        case = session.query(Case).one()
        move(session, case, Event.CLARIFICATION_SOUGHT, MONDAY, None, ["which contract?"],
             clock_event=EventKind.CLARIFICATION_SOUGHT, on=MONDAY.date())
        refresh_deadline(session, case, h.app.services.calendars, now=MONDAY, cause="asked")
    h.clock.set(TUESDAY)
    h.deliver(fixture_mail("clarification_outlook_plain_quote.eml",
                           Subject=f"RE: {reference}", From="P Patel <p.patel@example.net>"),
              at=TUESDAY)
    h.cycle()

    notices.sweep(h.app.factory, h.app.services, TUESDAY)
    notices.sweep(h.app.factory, h.app.services, TUESDAY + timedelta(minutes=5))
    h.cycle()

    (subject,) = _to_team(h)
    notice = h.acks_to(TEAM)[0].message
    assert re.search(r"\[FOI triage [0-9a-f]{20}\]", subject)
    assert f"link {reference}" in str(notice.get_payload()[0].get_payload(decode=True))

    _reply_in_sent(h, subject, f"Link {reference}", 1, THURSDAY)

    case = h.case(reference)
    assert State.ACKNOWLEDGED.value == case.status
    confirmation = h.acks_to(TEAM)[-1].message
    assert f"due {case.due_on}" in body_text(confirmation)
    token = re.search(r"[0-9a-f]{20}", subject)
    assert token is not None
    assert f"undo {token.group(0)}" in body_text(confirmation)

    _reply_in_sent(h, subject, f"undo {token.group(0)}", 2, THURSDAY + timedelta(hours=1))

    assert State.AWAITING_CLARIFICATION.value == h.case(reference).status
    assert "undone" in body_text(h.acks_to(TEAM)[-1].message)
