"""Triage by email through a real Dovecot and a real SMTP server: a stray follow-up is flagged,
the team gets one notice, a reply filed in Sent links it and restarts the clock, the sender is
told the new due date, and `undo` puts it back; an item left open is repeated in a reminder two
working days after its notice."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from foi_mailbot.cases.lifecycle import Event, State
from foi_mailbot.cases.register import move, refresh_deadline
from foi_mailbot.deadlines.laws import EventKind
from foi_mailbot.settings import Settings
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import Case
from tests.integration.harness import (
    MONDAY,
    Harness,
    body_text,
    fixture_mail,
    reference_in,
    running,
)
from tests.integration.triage_mail import (
    TEAM,
    confirmations_to,
    notices_to_team,
    reminders_to_team,
    reply_in_sent,
    sweep,
    token_of,
)
from tests.servers.dovecot import Dovecot
from tests.servers.smtp_sink import SmtpSink

pytestmark = pytest.mark.dovecot

TUESDAY = MONDAY + timedelta(days=1)
WEDNESDAY = MONDAY + timedelta(days=2)
THURSDAY = MONDAY + timedelta(days=3)


@pytest.fixture
def harness(
    make_settings: Callable[..., Settings], dovecot: Dovecot, smtp_sink: SmtpSink, db_url: str,
) -> Iterator[Harness]:
    """A daemon on Dovecot and the SMTP sink, its clock at Monday 12 January 2026."""
    with running(make_settings, dovecot, smtp_sink, db_url) as h:
        yield h


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

    sweep(h, TUESDAY)

    (notice,) = notices_to_team(h)
    assert re.search(r"\[FOI triage [0-9a-f]{20}\]", str(notice["Subject"]))
    assert f"link {reference}" in str(notice.get_payload()[0].get_payload(decode=True))

    reply_in_sent(h, notice, f"Link {reference}", THURSDAY)

    case = h.case(reference)
    assert State.ACKNOWLEDGED.value == case.status
    (confirmation,) = confirmations_to(h, TEAM)
    assert f"due {case.due_on}" in body_text(confirmation)
    token = token_of(notice)
    assert f"undo {token}" in body_text(confirmation)

    reply_in_sent(h, confirmation, f"undo {token}", THURSDAY + timedelta(hours=1))

    assert State.AWAITING_CLARIFICATION.value == h.case(reference).status
    assert "undone" in body_text(confirmations_to(h, TEAM)[-1])


def test_mail_read_days_late_gets_its_notice_alone_and_a_reminder_two_working_days_later(
    harness: Harness,
) -> None:
    """A request that reached the mailbox on Monday 5 January while the service was stopped is
    read a week later; its letter is held and the team gets its notice, not a reminder with it.
    The item is repeated in the reminder on Wednesday, two working days after its notice,
    still showing when the message arrived."""
    h = harness
    h.deliver(fixture_mail("new_request_plain_foia.eml", Date="Mon, 05 Jan 2026 09:14:03 +0000"),
              at=MONDAY - timedelta(days=7))
    h.cycle()

    sweep(h, MONDAY)

    (notice,) = notices_to_team(h)
    assert "Arrived:  2026-01-05" in body_text(notice)
    assert [] == reminders_to_team(h)
    sweep(h, TUESDAY)
    assert [] == reminders_to_team(h)

    sweep(h, WEDNESDAY)

    (reminder,) = reminders_to_team(h)
    said = body_text(reminder)
    assert f"[FOI triage {token_of(notice)}] notice sent 2026-01-12, arrived 2026-01-05" in said
    sweep(h, WEDNESDAY + timedelta(hours=2))
    assert 1 == len(reminders_to_team(h)) and 1 == len(notices_to_team(h))
