"""Each triage command by email, through a real Dovecot and a real SMTP server: a message is
flagged, the team gets one notice, a person's reply settles it (`new`, `not foi`, `merge`,
`close`, `received`, `send`), its sender gets one confirmation, and `undo` puts it back."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

import pytest
from sqlalchemy import func, select

from foi_mailbot.cases.lifecycle import State
from foi_mailbot.settings import Settings
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import Case, CaseEvent, InboundMessage
from foi_mailbot.triage.items import open_items
from tests.integration.harness import (
    MONDAY,
    Harness,
    body_text,
    fixture_mail,
    reference_in,
    running,
)
from tests.integration.triage_mail import (
    AUTHSERV_ID,
    STAFF,
    TEAM,
    confirmations_to,
    notices_to_team,
    reply_from_staff_inbox,
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
REQUESTER = "m.okafor@gmail.com"
WORK_ADDRESS = "michael.okafor@okafor-consulting.co.uk"
DUE_FROM_MONDAY = date(2026, 2, 9)  # 20 working days after Monday 12 January 2026


@pytest.fixture
def harness(
    make_settings: Callable[..., Settings], dovecot: Dovecot, smtp_sink: SmtpSink, db_url: str,
) -> Iterator[Harness]:
    """A daemon on Dovecot and the SMTP sink, its clock at Monday 12 January 2026, believing
    the DMARC verdicts our own mail server writes."""
    with running(make_settings, dovecot, smtp_sink, db_url, authserv_id=AUTHSERV_ID) as h:
        yield h


def _request(h: Harness, at: datetime, sender: str = REQUESTER) -> str:
    """Michael Okafor's request arrives at `at` from `sender`; the reference acknowledged."""
    h.clock.set(at)
    h.deliver(fixture_mail("new_request_plain_foia.eml", From=f"Michael Okafor <{sender}>",
                           Message_ID=f"<request-{at:%Y%m%d}@mail.example.com>",
                           Date=format_datetime(at)), at=at)
    h.cycle()
    return reference_in(str(_letters_to(h, sender)[-1]["Subject"]))


def _flagged(h: Harness, fixture: str, at: datetime) -> EmailMessage:
    """A message arrives at `at` and is flagged; the notice sweep runs an hour later. The one
    notice the team gets."""
    h.clock.set(at)
    h.deliver(fixture_mail(fixture), at=at)
    h.cycle()
    sweep(h, at + timedelta(hours=1))
    (notice,) = notices_to_team(h)
    return notice


def _offered(notice: EmailMessage) -> list[str]:
    """The lines of a notice, among them the commands it offers ready to copy."""
    return [line.strip() for line in body_text(notice).splitlines()]


def _mail_from(h: Harness, sender: str) -> InboundMessage:
    """The one message stored from `sender`."""
    with session_scope(h.app.factory) as session:
        row = session.scalars(select(InboundMessage).where(
            InboundMessage.from_email == sender)).one()
        session.expunge(row)
        return row


def _letters_to(h: Harness, address: str) -> list[EmailMessage]:
    """What the SMTP server received for an address."""
    return [d.message for d in h.acks_to(address)]


def _cases(h: Harness) -> int:
    with session_scope(h.app.factory) as session:
        return int(session.scalar(select(func.count()).select_from(Case)) or 0)


def _open_tokens(h: Harness) -> list[str | None]:
    with session_scope(h.app.factory) as session:
        return [item.token for item in open_items(session)]


def test_new_opens_a_request_counted_from_the_message_s_arrival_and_undo_closes_it(
    harness: Harness,
) -> None:
    """A new question in reply to a letter from before the service: flagged, no case. `new`
    from a colleague's own inbox opens it dated from Monday's arrival, acknowledges it to the
    requester, and confirms to that colleague; `undo` closes it as opened in error."""
    h = harness
    fiona = "fiona.macleod@outlook.com"
    notice = _flagged(h, "triage/follow_up_new_question_on_an_old_reply.eml", MONDAY)
    assert "new" in _offered(notice) and [] == _letters_to(h, fiona)

    reply_from_staff_inbox(h, notice, "New", WEDNESDAY)

    case = h.case()
    assert (fiona, State.ACKNOWLEDGED.value) == (case.applicant_email, case.status)
    assert (MONDAY.date(), DUE_FROM_MONDAY) == (case.received_on, case.due_on)
    (ack,) = _letters_to(h, fiona)
    assert case.reference in str(ack["Subject"])
    assert "Monday 12 January 2026" in body_text(ack)
    assert "Monday 9 February 2026" in body_text(ack)
    (confirmation,) = confirmations_to(h, STAFF)
    assert f"due {DUE_FROM_MONDAY}" in body_text(confirmation)
    assert [] == confirmations_to(h, TEAM)

    reply_from_staff_inbox(h, confirmation, f"undo {token_of(notice)}",
                           WEDNESDAY + timedelta(hours=1))

    assert State.CLOSED.value == h.case(case.reference).status
    assert "closed (opened in error)" in body_text(confirmations_to(h, STAFF)[-1])
    assert _mail_from(h, fiona).case_id is None
    assert 1 == len(_letters_to(h, fiona))  # a letter sent stays sent; nothing more goes
    sweep(h, THURSDAY)
    first, again = notices_to_team(h)  # the item is open again, under a new token
    assert token_of(again) not in (token_of(first), None)


def test_not_foi_settles_the_item_with_no_case_and_no_letter_and_undo_reopens_it(
    harness: Harness,
) -> None:
    """A resident's reply about a missed bin: flagged, one notice. `not foi` filed in Sent
    settles it: no case, nothing to the resident, one confirmation; `undo` opens it again."""
    h = harness
    resident = "gwhitlock1962@btinternet.com"
    notice = _flagged(h, "triage/missed_bin_reply_to_our_redirect.eml", MONDAY)
    assert "not foi" in _offered(notice)

    reply_in_sent(h, notice, "Not FOI.", TUESDAY)

    assert 0 == _cases(h) and [] == _open_tokens(h)
    row = _mail_from(h, resident)
    assert ("not_foi", None) == (row.kind, row.case_id)
    (confirmation,) = confirmations_to(h, TEAM)
    assert "not an FOI request" in body_text(confirmation)
    sweep(h, WEDNESDAY)
    assert 1 == len(notices_to_team(h))

    reply_in_sent(h, confirmation, f"undo {token_of(notice)}", WEDNESDAY + timedelta(hours=1))

    (reopened,) = _open_tokens(h)
    assert reopened not in (None, token_of(notice))
    assert 0 == _cases(h)
    assert [] == _letters_to(h, resident)


def _sent_twice(h: Harness) -> tuple[str, str, EmailMessage]:
    """Michael's request from Gmail on Monday (A) and from his work address on Tuesday (B), then
    his note from work on Wednesday that they are one: flagged, on B by a guess. The notice."""
    a = _request(h, MONDAY)
    b = _request(h, TUESDAY, WORK_ADDRESS)
    notice = _flagged(h, "triage/follow_up_sent_the_request_twice.eml", WEDNESDAY)
    assert {f"link {a}", f"link {b}"} <= set(_offered(notice))
    return a, b, notice


def _case_ids_of_mail_from(h: Harness, sender: str) -> set[int | None]:
    with session_scope(h.app.factory) as session:
        return set(session.scalars(select(InboundMessage.case_id).where(
            InboundMessage.from_email == sender)))


def test_merge_keeps_the_earliest_receipt_and_undo_puts_both_cases_back(harness: Harness) -> None:
    """`merge A into B` filed in Sent: B takes A's mail and Monday's date of receipt, keeps its
    own timeline, and is due 20 working days from Monday; A is closed as merged. `undo` gives
    each case back its own mail and dates, and a merge from the new tag then applies."""
    h = harness
    a, b, notice = _sent_twice(h)

    reply_in_sent(h, notice, f"merge {a} into {b}", THURSDAY)

    gone, kept = h.case(a), h.case(b)
    assert (State.CLOSED.value, "merged") == (gone.status, gone.outcome)
    assert (MONDAY.date(), DUE_FROM_MONDAY) == (kept.received_on, kept.due_on)
    assert {kept.id} == _case_ids_of_mail_from(h, REQUESTER)
    with session_scope(h.app.factory) as session:
        timeline = list(session.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == kept.id)
                                        .order_by(CaseEvent.id)))
    assert "opened" == timeline[0] and "merged" in timeline
    (confirmation,) = confirmations_to(h, TEAM)
    assert f"{a} merged into {b}" in body_text(confirmation)
    assert f"due {DUE_FROM_MONDAY}" in body_text(confirmation)

    reply_in_sent(h, confirmation, f"undo {token_of(notice)}", THURSDAY + timedelta(hours=1))

    assert State.ACKNOWLEDGED.value == h.case(a).status
    assert (TUESDAY.date(), date(2026, 2, 10)) == (h.case(b).received_on, h.case(b).due_on)
    assert {h.case(a).id} == _case_ids_of_mail_from(h, REQUESTER)
    undone = confirmations_to(h, TEAM)[-1]
    assert token_of(undone) != token_of(notice)

    reply_in_sent(h, undone, f"merge {a} into {b}", THURSDAY + timedelta(hours=2))

    assert "merged" == h.case(a).outcome and MONDAY.date() == h.case(b).received_on
    assert 3 == len(confirmations_to(h, TEAM)) and 1 == len(notices_to_team(h))


def test_mail_answering_a_merged_case_s_acknowledgement_goes_to_the_case_it_joined(
    harness: Harness,
) -> None:
    """After `merge A into B`, Michael's Gmail reply to A's acknowledgement (A's reference in
    its subject, in A's thread) is recorded on B, not on the closed case A."""
    h = harness
    a, b, notice = _sent_twice(h)
    reply_in_sent(h, notice, f"merge {a} into {b}", THURSDAY)
    ack = _letters_to(h, REQUESTER)[0]
    later = MONDAY + timedelta(days=14)

    h.clock.set(later)
    h.deliver(fixture_mail("triage/chaser_gmail_reply_to_our_acknowledgement.eml",
                           Subject=f"Re: {ack['Subject']}", In_Reply_To=str(ack["Message-ID"]),
                           References=f"{ack['In-Reply-To']} {ack['Message-ID']}"), at=later)
    h.cycle()

    assert {h.case(b).id} == _case_ids_of_mail_from(h, REQUESTER)


def test_close_records_the_outcome_and_undo_reopens_the_case(harness: Harness) -> None:
    """Michael writes that HR sent him the spreadsheet directly: flagged, on his case by a
    guess. `close REF provided` closes it on time, with nothing sent to him; `undo` reopens."""
    h = harness
    reference = _request(h, MONDAY)
    notice = _flagged(h, "triage/follow_up_answered_by_the_service_directly.eml",
                      THURSDAY - timedelta(hours=1))
    assert f"link {reference}" in _offered(notice) and "close IC-... refused" in body_text(notice)

    reply_in_sent(h, notice, f"Close {reference} provided", THURSDAY + timedelta(hours=2))

    case = h.case(reference)
    assert (State.CLOSED.value, "information_provided") == (case.status, case.outcome)
    assert (THURSDAY.date(), True) == (case.completed_on, case.on_time)
    (confirmation,) = confirmations_to(h, TEAM)
    assert f"{reference} closed (information_provided)" in body_text(confirmation)
    assert 1 == len(_letters_to(h, REQUESTER))  # the acknowledgement only

    reply_in_sent(h, confirmation, f"undo {token_of(notice)}", THURSDAY + timedelta(hours=3))

    case = h.case(reference)
    assert (State.ACKNOWLEDGED.value, None, None) == (case.status, case.outcome,
                                                      case.completed_on)
    assert DUE_FROM_MONDAY == case.due_on
    assert 1 == len(_letters_to(h, REQUESTER)) and 1 == len(notices_to_team(h))


def test_received_corrects_the_date_of_receipt_and_explains_the_new_due_date(
    harness: Harness,
) -> None:
    """Michael says he first sent his request to the Chief Executive on Friday 2 January:
    flagged, on his case by a guess. `received 2026-01-02` makes that the date of receipt;
    the confirmation gives the new due date and why; `undo` restores Monday's."""
    h = harness
    reference = _request(h, MONDAY)
    notice = _flagged(h, "triage/follow_up_request_first_sent_to_the_chief_executive.eml", TUESDAY)
    assert "received YYYY-MM-DD" in body_text(notice)

    reply_in_sent(h, notice, "received 2026-01-02", WEDNESDAY)

    case = h.case(reference)
    assert (date(2026, 1, 2), date(2026, 1, 30)) == (case.received_on, case.due_on)
    (confirmation,) = confirmations_to(h, TEAM)
    said = body_text(confirmation)
    assert f"{reference} received on 2026-01-02" in said
    assert "due 2026-01-30" in said
    why = said.split("Why that date:", 1)[1].split("To undo it", 1)[0]
    assert "2026-01-02" in why and "2026-01-30" in why

    reply_in_sent(h, confirmation, f"undo {token_of(notice)}", WEDNESDAY + timedelta(hours=1))

    case = h.case(reference)
    assert (MONDAY.date(), DUE_FROM_MONDAY) == (case.received_on, case.due_on)
    assert 2 == len(confirmations_to(h, TEAM)) and 1 == len(notices_to_team(h))


def test_send_releases_a_held_letter_which_reaches_the_requester_once(harness: Harness) -> None:
    """A request that reached the mailbox on Monday 5 January while the service was stopped:
    its case opens dated that day, the letter is held (it would come too late) and the item
    flagged. `send` filed in Sent releases the letter: it reaches the requester exactly once."""
    h = harness
    arrived = MONDAY - timedelta(days=7, minutes=46)
    h.deliver(fixture_mail("new_request_plain_foia.eml", Date="Mon, 05 Jan 2026 09:14:03 +0000"),
              at=arrived)
    h.cycle()
    case = h.case()
    assert (arrived.date(), "letter held") == (case.received_on, case.hold)
    assert [] == _letters_to(h, REQUESTER)
    sweep(h, MONDAY)
    (notice,) = notices_to_team(h)
    assert "send" in _offered(notice)

    reply_in_sent(h, notice, "send", MONDAY + timedelta(hours=1))
    sweep(h, TUESDAY)
    h.cycle()

    (letter,) = _letters_to(h, REQUESTER)
    assert case.reference in str(letter["Subject"])
    assert "Monday 2 February 2026" in body_text(letter)
    case = h.case()
    assert (State.ACKNOWLEDGED.value, None) == (case.status, case.hold)
    (confirmation,) = confirmations_to(h, TEAM)
    assert f"{case.reference}: letter queued" in body_text(confirmation)
    assert "cannot be recalled" in body_text(confirmation)
    assert 1 == len(notices_to_team(h))

    reply_in_sent(h, confirmation, f"undo {token_of(notice)}", TUESDAY + timedelta(hours=1))

    refused = confirmations_to(h, TEAM)[-1]
    assert "not done" in str(refused["Subject"])
    assert "already sent" in body_text(refused) and "cannot be recalled" in body_text(refused)
    assert (State.ACKNOWLEDGED.value, None) == (h.case().status, h.case().hold)
    assert [] == _open_tokens(h)
    sweep(h, WEDNESDAY)
    assert 1 == len(notices_to_team(h)) and 1 == len(_letters_to(h, REQUESTER))


def test_new_decided_late_holds_the_letter_and_send_by_reply_releases_it(
    harness: Harness,
) -> None:
    """A new question reaches the mailbox on Monday and is flagged; `new` from a colleague's
    inbox on Thursday opens it dated Monday, but its acknowledgement would come three working
    days late, so it is held. The confirmation says so and offers `send` under a fresh token,
    and the team gets that item's notice; `send` in reply to the confirmation releases the
    letter, which reaches the requester once."""
    h = harness
    fiona = "fiona.macleod@outlook.com"
    notice = _flagged(h, "triage/follow_up_new_question_on_an_old_reply.eml", MONDAY)

    reply_from_staff_inbox(h, notice, "new", THURSDAY)

    case = h.case()
    assert (MONDAY.date(), "letter held") == (case.received_on, case.hold)
    assert [] == _letters_to(h, fiona)
    (confirmation,) = confirmations_to(h, STAFF)
    assert "Nothing was sent to the requester" in body_text(confirmation)
    assert "send" in _offered(confirmation)
    held = token_of(confirmation)
    assert [held] == _open_tokens(h) and held != token_of(notice)
    sweep(h, THURSDAY + timedelta(hours=1))
    assert held == token_of(notices_to_team(h)[-1])
    assert "send" in _offered(notices_to_team(h)[-1])

    reply_from_staff_inbox(h, confirmation, "send", THURSDAY + timedelta(hours=2))
    h.cycle()

    (letter,) = _letters_to(h, fiona)
    assert case.reference in str(letter["Subject"])
    assert (State.ACKNOWLEDGED.value, None) == (h.case().status, h.case().hold)
    assert [] == _open_tokens(h)
    assert f"{case.reference}: letter queued" in body_text(confirmations_to(h, STAFF)[-1])
