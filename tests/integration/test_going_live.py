"""Going live on a Dovecot mailbox that already holds a year of mail (inbox and Sent).

Default (`start = "new"`): the history is left alone, the first new request is answered, and a
renumbered folder does not revive the history. `start = "import"`: the history is stored, cases
open with their real dates, those answered from Sent are closed, nothing is sent, and no
reminder goes until a person confirms the cases.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from sqlalchemy import func, select

from foi_mailbot.cases.holding import TO_CONFIRM
from foi_mailbot.cases.release import confirm
from foi_mailbot.clock import FixedClock
from foi_mailbot.jobs.reminders import plan
from foi_mailbot.settings import Settings
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import Case, InboundMessage
from tests.integration.harness import Harness, fixture_mail, imap_settings
from tests.servers.dovecot import Dovecot
from tests.servers.smtp_sink import SmtpSink

REQUESTS = 400
ANSWERED = 100
YEAR_AGO = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def _history() -> tuple[list[tuple[bytes, datetime]], list[tuple[bytes, datetime]]]:
    """400 requests from a year ago and 100 staff responses to the first of them."""
    inbox, sent = [], []
    for n in range(REQUESTS):
        at = YEAR_AGO + timedelta(hours=7 * n)
        subject = f"Freedom of Information request - agency staff spending {n}"
        raw = fixture_mail(
            "new_request_plain_foia.eml", From=f"Requester {n} <requester{n}@example.com>",
            Message_ID=f"<history-{n}@example.com>", Subject=subject, Date=format_datetime(at))
        inbox.append((raw, at))
        if n < ANSWERED:
            reply_at = at + timedelta(days=10)
            sent.append((fixture_mail(
                "staff_actions/respond_information_provided_attached.eml",
                To=f"requester{n}@example.com", Subject=f"RE: {subject}",
                Message_ID=f"<answer-{n}@mail.example.gov.uk>", In_Reply_To=f"<history-{n}@example.com>",
                References=f"<history-{n}@example.com>", Date=format_datetime(reply_at)),
                reply_at))
    return inbox, sent


def _fill(dovecot: Dovecot, folder: str, mails: list[tuple[bytes, datetime]]) -> None:
    """APPEND in batches of 100 (MULTIAPPEND): 500 messages in a second or two."""
    with dovecot.client() as imap:
        if not imap.folder_exists(folder):
            imap.create_folder(folder)
        for at in range(0, len(mails), 100):
            imap.multiappend(folder, [{"msg": raw, "date": when, "flags": ()}
                                      for raw, when in mails[at : at + 100]])


@pytest.fixture
def filled(dovecot: Dovecot) -> Dovecot:
    inbox, sent = _history()
    _fill(dovecot, "INBOX", inbox)
    _fill(dovecot, "Sent", sent)
    return dovecot


def _harness(make_settings: Callable[..., Settings], dovecot: Dovecot, sink: SmtpSink,
             clock: FixedClock, start: str | None, db: str) -> Harness:
    settings = imap_settings(make_settings, dovecot, sink, db)
    box = settings.mailbox.model_dump()
    if start is None:
        box.pop("start")  # the default
    else:
        box["start"] = start
    settings = settings.model_copy(update={"mailbox": type(settings.mailbox)(**box)})
    return Harness.start(settings, dovecot, sink, clock)


def _stored(h: Harness) -> int:
    with session_scope(h.app.factory) as session:
        return int(session.scalar(select(func.count()).select_from(InboundMessage)) or 0)


def test_by_default_a_year_of_history_is_left_alone_and_new_mail_is_answered(
    make_settings: Callable[..., Settings], filled: Dovecot, smtp_sink: SmtpSink,
    clock: FixedClock, db_url: str,
) -> None:
    h = _harness(make_settings, filled, smtp_sink, clock, start=None, db=db_url)
    assert "new" == h.settings.mailbox.start
    try:
        h.cycle()
        assert [] == smtp_sink.messages
        assert 0 == _stored(h)
        assert REQUESTS == len(filled.list_uids("INBOX"))  # nothing moved
        assert all(not flags for flags in filled.flags("INBOX").values())  # nor flagged

        h.deliver(fixture_mail("new_request_plain_foia.eml", Message_ID="<fresh@example.com>"))
        h.cycle()
        assert 1 == len(smtp_sink.messages)

        # The folder renumbered (restored from a backup, moved server): still history.
        inbox, sent = _history()
        filled.recreate_folder("INBOX")
        filled.recreate_folder("Sent")
        _fill(filled, "INBOX", inbox)
        _fill(filled, "Sent", sent)
        h.cycle()
        assert 1 == len(smtp_sink.messages)
        assert 1 == _stored(h)
    finally:
        h.close()


def test_importing_the_history_opens_cases_with_real_dates_closes_answered_and_sends_nothing(
    make_settings: Callable[..., Settings], filled: Dovecot, smtp_sink: SmtpSink,
    clock: FixedClock, db_url: str,
) -> None:
    h = _harness(make_settings, filled, smtp_sink, clock, start="import", db=db_url)
    try:
        h.cycle()
        assert [] == smtp_sink.messages
        with session_scope(h.app.factory) as session:
            messages = list(session.scalars(select(InboundMessage)))
            cases = list(session.scalars(select(Case).order_by(Case.id)))
            assert REQUESTS + ANSWERED == len(messages)
            assert all(m.history for m in messages)
            assert REQUESTS == len(cases)
            assert YEAR_AGO.date() == min(c.received_on for c in cases)
            closed = [c for c in cases if c.completed_on is not None]
            assert ANSWERED == len(closed)
            assert all(c.hold == TO_CONFIRM for c in cases)
            assert [] == [p for p in plan(session, h.settings, h.app.services.calendars,
                                          clock.now()) if p.case_id is not None]
            for case in cases:
                confirm(session, case, clock.now())
        with session_scope(h.app.factory) as session:
            reminded = {p.case_id for p in plan(session, h.settings, h.app.services.calendars,
                                                 clock.now()) if p.case_id is not None}
        assert REQUESTS - ANSWERED == len(reminded)  # overdue, once confirmed
    finally:
        h.close()
