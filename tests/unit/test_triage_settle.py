"""Settling triage items by reply, on a real database: applied once, confirmed, undone; forged
commands flagged and never applied."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from foi_mailbot.bootstrap import App, build
from foi_mailbot.cases.lifecycle import State
from foi_mailbot.clock import FixedClock
from foi_mailbot.ingest import store
from foi_mailbot.settings import Settings
from foi_mailbot.sources import RawMail
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import Case, CaseEvent, InboundMessage, OutboxMessage, TriageItem
from foi_mailbot.triage.items import ensure_items, open_items, reopen
from tests.conftest import FIXTURES
from tests.integration.harness import feed, fixture_mail

MONDAY = datetime(2026, 1, 12, 10, 0, tzinfo=UTC)
TUESDAY = datetime(2026, 1, 13, 10, 30, tzinfo=UTC)


def _feed(app: App, raw: bytes, key: str, direction: str = "inbound") -> InboundMessage:
    return feed(app, raw, key, sent=direction == "sent")


def _command(name: str, token: str, command: str) -> bytes:
    raw = (FIXTURES / "triage" / name).read_bytes()
    return raw.replace(b"{TOKEN}", token.encode()).replace(b"{COMMAND}", command.encode())


def _stray(app: App) -> tuple[str, int]:
    """A request, then a follow-up from a stranger quoting its reference: flagged; its token."""
    _feed(app, fixture_mail("new_request_plain_foia.eml"), "1")
    with session_scope(app.factory) as session:
        reference = session.scalars(select(Case.reference)).one()
    stray = _feed(app, fixture_mail("clarification_reference_in_subject.eml",
                                    Subject=f"Re: my request {reference}",
                                    From="Someone Else <stranger@example.net>"), "2")
    assert stray.needs_person
    with session_scope(app.factory) as session:
        ensure_items(session, app.clock.now())
        item = session.scalars(select(TriageItem)).one()
        return item.token, stray.id


def _case(app: App) -> Case:
    with session_scope(app.factory) as session:
        case = session.scalars(select(Case).order_by(Case.id)).first()
        assert case is not None
        session.expunge(case)
        return case


def _events(app: App) -> int:
    with session_scope(app.factory) as session:
        return len(list(session.scalars(select(CaseEvent.id))))


def _outbox(app: App, like: str) -> list[OutboxMessage]:
    with session_scope(app.factory) as session:
        rows = list(session.scalars(select(OutboxMessage).where(OutboxMessage.key.like(like))))
        for row in rows:
            session.expunge(row)
        return rows


def test_not_foi_in_sent_settles_the_item_and_is_confirmed_with_its_undo(
    settings: Settings,
) -> None:
    """A reply filed in Sent settles the item; the team is told what was done and how to undo."""
    app = build(settings, clock=FixedClock(MONDAY))
    token, _ = _stray(app)
    app.clock = FixedClock(TUESDAY)

    command = _feed(app, _command("reply_outlook_command_in_sent.eml", token, "Not FOI"), "3",
                    "sent")

    with session_scope(app.factory) as session:
        assert [] == open_items(session)
    assert command.effect is not None and command.effect.startswith("command applied")
    (confirmation,) = _outbox(app, "triage:reply:%")
    assert "foi-team@example.gov.uk" == confirmation.to_email
    assert f"undo {token}".encode() in confirmation.raw


def test_link_attaches_and_undo_puts_it_back(settings: Settings) -> None:
    """`link REF` attaches the stray message; `undo <token>` detaches it and reopens the item."""
    app = build(settings, clock=FixedClock(MONDAY))
    token, stray_pk = _stray(app)
    reference = _case(app).reference
    events_before = _events(app)

    _feed(app, _command("reply_outlook_command_in_sent.eml", token, f"link {reference}"), "3",
          "sent")
    with session_scope(app.factory) as session:
        linked = session.get(InboundMessage, stray_pk)
        assert linked is not None and linked.case_id is not None and linked.resolved_at
    assert _events(app) > events_before
    _feed(app, _command("reply_outlook_command_in_sent.eml", token, f"undo {token}")
          .replace(b"B8C9D0LO2P", b"B8C9D1LO2P"), "4", "sent")

    with session_scope(app.factory) as session:
        back = session.get(InboundMessage, stray_pk)
        assert back is not None and back.resolved_at is None
        (item,) = open_items(session)
        assert item.token != token  # a used token never settles anything again
    assert events_before == _events(app)


def test_close_and_reopen_by_reply(settings: Settings) -> None:
    """`close REF refused` closes the case with its outcome."""
    app = build(settings, clock=FixedClock(MONDAY))
    token, _ = _stray(app)
    reference = _case(app).reference

    _feed(app, _command("reply_outlook_command_in_sent.eml", token,
                        f"close {reference} refused"), "3", "sent")

    case = _case(app)
    assert (State.CLOSED.value, "refused") == (case.status, case.outcome)


def test_received_recomputes_the_deadline(settings: Settings) -> None:
    """`received DATE` moves the date of receipt of the message's case, and its due date."""
    app = build(settings, clock=FixedClock(MONDAY))
    _feed(app, fixture_mail("new_request_plain_foia.eml"), "1")
    with session_scope(app.factory) as session:
        row = session.scalars(select(InboundMessage)).one()
        row.needs_person, row.resolved_at = True, None
        ensure_items(session, MONDAY)
        token = session.scalars(select(TriageItem.token)).one()
    before = _case(app).due_on

    _feed(app, _command("reply_outlook_command_in_sent.eml", token, "received 2026-01-02"), "3",
          "sent")

    case = _case(app)
    assert "2026-01-02" == case.received_on.isoformat()
    assert before is not None and case.due_on is not None and case.due_on < before


def test_staff_inbox_command_with_dmarc_pass_is_applied(make_settings, db_url: str) -> None:  # type: ignore[no-untyped-def]
    """Staff mail our server vouched for, with the item's token, is a command."""
    settings = make_settings(db=db_url, mailbox={"authserv_id": "mx.example.gov.uk"})
    app = build(settings, clock=FixedClock(MONDAY))
    token, _ = _stray(app)

    row = _feed(app, _command("staff_inbox_command_dmarc.eml", token, "ignore")
                .replace(b"{DMARC}", b"pass"), "3")

    assert row.effect is not None and row.effect.startswith("command applied"), row.effect
    (confirmation,) = _outbox(app, "triage:reply:%")
    assert "jane.smith@example.gov.uk" == confirmation.to_email


def test_staff_inbox_command_failing_dmarc_is_flagged(make_settings, db_url: str) -> None:  # type: ignore[no-untyped-def]
    """A token with a trusted Authentication-Results failing: flagged, nothing applied."""
    settings = make_settings(db=db_url, mailbox={"authserv_id": "mx.example.gov.uk"})
    app = build(settings, clock=FixedClock(MONDAY))
    token, _ = _stray(app)

    row = _feed(app, _command("staff_inbox_command_dmarc.eml", token, "ignore")
                .replace(b"{DMARC}", b"fail"), "3")

    assert row.needs_person
    with session_scope(app.factory) as session:
        assert 2 == len(open_items(session))  # the stray message and the forged command
    assert [] == _outbox(app, "triage:reply:%")


def test_stranger_with_a_valid_token_is_flagged(settings: Settings) -> None:
    """Knowing a token is not enough: a stranger's command is flagged, not applied."""
    app = build(settings, clock=FixedClock(MONDAY))
    token, stray_pk = _stray(app)

    row = _feed(app, _command("staff_inbox_command_dmarc.eml", token, "ignore")
                .replace(b"jane.smith@example.gov.uk", b"mallory@example.net"), "3")

    assert row.needs_person and "may not give one" in (row.attention_reason or "")
    with session_scope(app.factory) as session:
        stray = session.get(InboundMessage, stray_pk)
        assert stray is not None and stray.resolved_at is None


def test_staff_command_without_a_token_is_flagged(settings: Settings) -> None:
    """A command from Sent with no item's token names nothing: flagged."""
    app = build(settings, clock=FixedClock(MONDAY))
    _stray(app)
    raw = _command("reply_outlook_command_in_sent.eml", "", "ignore").replace(
        b"[FOI triage ]", b"")

    row = _feed(app, raw, "3", "sent")

    assert row.needs_person and "without an item's token" in (row.attention_reason or "")


def test_a_replayed_token_is_flagged(settings: Settings) -> None:
    """A token settles one item once: the same command again is flagged."""
    app = build(settings, clock=FixedClock(MONDAY))
    token, _ = _stray(app)
    _feed(app, _command("reply_outlook_command_in_sent.eml", token, "ignore"), "3", "sent")

    again = _feed(app, _command("reply_outlook_command_in_sent.eml", token, "not foi")
                  .replace(b"B8C9D0LO2P", b"B8C9D2LO2P"), "4", "sent")

    assert again.needs_person and "already used" in (again.attention_reason or "")


def test_unknown_words_get_the_list_of_commands(settings: Settings) -> None:
    """A reply the parser cannot read is answered with what is understood; nothing changes."""
    app = build(settings, clock=FixedClock(MONDAY))
    token, _ = _stray(app)

    _feed(app, _command("reply_outlook_command_in_sent.eml", token, "please deal with this"),
          "3", "sent")

    (answer,) = _outbox(app, "triage:reply:%")
    assert b"merge IC-000123-N1W5 into" in answer.raw
    with session_scope(app.factory) as session:
        assert 1 == len(open_items(session))


def _flag_request(app: App, key: str, fixture: str = "new_request_plain_foia.eml") -> str:
    """A new request held for a person (flagged by hand, as a doubtful kind would be); its token."""
    row = _feed(app, fixture_mail(fixture), key)
    with session_scope(app.factory) as session:
        stored = session.get(InboundMessage, row.id)
        assert stored is not None
        stored.needs_person, stored.resolved_at = True, None
        ensure_items(session, app.clock.now())
        item = session.scalars(select(TriageItem).where(TriageItem.message_pk == row.id)).one()
        return item.token


def test_link_answering_a_clarification_restarts_the_clock_from_its_own_arrival(
    settings: Settings,
) -> None:
    """A stray answer linked by a person restarts the clock from the day it arrived, not the
    day of the command; the confirmation gives the new due date."""
    from foi_mailbot.cases.lifecycle import Event
    from foi_mailbot.cases.register import move, refresh_deadline
    from foi_mailbot.deadlines.laws import EventKind

    app = build(settings, clock=FixedClock(MONDAY))
    _feed(app, fixture_mail("new_request_plain_foia.eml"), "1")
    with session_scope(app.factory) as session:
        case = session.scalars(select(Case)).one()
        move(session, case, Event.CLARIFICATION_SOUGHT, MONDAY, None, ["asked"],
             clock_event=EventKind.CLARIFICATION_SOUGHT, on=MONDAY.date())
        refresh_deadline(session, case, app.services.calendars, now=MONDAY, cause="test")
        reference = case.reference
    app.clock = FixedClock(TUESDAY)
    stray = _feed(app, fixture_mail("clarification_outlook_plain_quote.eml",
                                    Subject="Re: your question"), "2")
    with session_scope(app.factory) as session:
        row = session.get(InboundMessage, stray.id)
        assert row is not None
        row.needs_person, row.resolved_at, row.case_id = True, None, None
        ensure_items(session, TUESDAY)
        token = session.scalars(select(TriageItem.token)).one()
    app.clock = FixedClock(TUESDAY + timedelta(days=2))

    _feed(app, _command("reply_outlook_command_in_sent.eml", token, f"link {reference}"), "3",
          "sent")

    case = _case(app)
    assert State.ACKNOWLEDGED.value == case.status
    with session_scope(app.factory) as session:
        received = session.scalars(select(CaseEvent).where(
            CaseEvent.clock_event == "clarification_received")).one()
    assert TUESDAY.date() == received.on
    (confirmation,) = _outbox(app, "triage:reply:%")
    assert f"due {case.due_on}".encode() in confirmation.raw


def test_new_opens_a_case_and_acknowledges_it(settings: Settings) -> None:
    """`new eir` opens the message as an EIR request with its deadline and acknowledgement."""
    app = build(settings, clock=FixedClock(MONDAY))
    _feed(app, fixture_mail("not_foi_pothole_report.eml"), "1")
    with session_scope(app.factory) as session:
        row = session.scalars(select(InboundMessage)).one()
        assert row.case_id is None
        row.needs_person, row.resolved_at = True, None
        ensure_items(session, MONDAY)
        token = session.scalars(select(TriageItem.token)).one()

    _feed(app, _command("reply_outlook_command_in_sent.eml", token, "new eir"), "2", "sent")

    case = _case(app)
    assert ("eir", State.ACKNOWLEDGED.value) == (case.law, case.status)
    assert 1 == len(_outbox(app, f"case:{case.reference}:acknowledgement"))


def test_merge_keeps_the_earliest_date_and_closes_the_other(settings: Settings) -> None:
    """`merge A into B`: B takes A's messages and the earlier date of receipt; A is closed."""
    app = build(settings, clock=FixedClock(MONDAY))
    _feed(app, fixture_mail("new_request_plain_foia.eml"), "1")
    app.clock = FixedClock(TUESDAY + timedelta(days=1))
    token = _flag_request(app, "2", "new_request_journalist.eml")
    with session_scope(app.factory) as session:
        first, second = session.scalars(select(Case).order_by(Case.id)).all()
        a, b = first.reference, second.reference

    _feed(app, _command("reply_outlook_command_in_sent.eml", token, f"merge {a} into {b}"), "3",
          "sent")

    with session_scope(app.factory) as session:
        gone, kept = session.scalars(select(Case).order_by(Case.id)).all()
        assert (State.CLOSED.value, "merged") == (gone.status, gone.outcome)
        assert MONDAY.date() == kept.received_on
        moved = session.scalars(select(InboundMessage.case_id).where(
            InboundMessage.direction == "inbound")).all()
        assert {kept.id} == set(moved)


def test_send_releases_a_held_letter(settings: Settings) -> None:
    """`send` on the item of a request whose letter was held queues the letter."""
    app = build(settings, clock=FixedClock(MONDAY))
    stored = store(app.factory, RawMail("test:old", "foi@example.gov.uk", "INBOX", None, None,
                                        MONDAY - timedelta(days=40),
                                        fixture_mail("new_request_plain_foia.eml"), "inbound"),
                   app.clock)
    app.pipeline.run_pending()
    with session_scope(app.factory) as session:
        case = session.scalars(select(Case)).one()
        assert case.hold is not None
        ensure_items(session, MONDAY)
        token = session.scalars(select(TriageItem.token).where(
            TriageItem.message_pk == stored.message_pk)).one()

    _feed(app, _command("reply_outlook_command_in_sent.eml", token, "send"), "2", "sent")

    case = _case(app)
    assert case.hold is None
    assert 1 == len(_outbox(app, f"case:{case.reference}:acknowledgement"))


def test_the_token_of_another_item_is_flagged(settings: Settings) -> None:
    """A reply to item A's notice quoting item B's token settles neither."""
    from foi_mailbot.triage import notices

    app = build(settings, clock=FixedClock(MONDAY))
    first = _flag_request(app, "1")
    second = _flag_request(app, "2", "new_request_journalist.eml")
    notices.sweep(app.factory, app.services, MONDAY)
    (notice,) = [n for n in _outbox(app, "triage:%:notice") if first in n.key]
    raw = _command("reply_outlook_command_in_sent.eml", second, "ignore")
    raw = raw.replace(b"MIME-Version", f"In-Reply-To: <{notice.message_id}>\nMIME-Version"
                      .encode(), 1)

    row = _feed(app, raw, "3", "sent")

    assert row.needs_person and "another item" in (row.attention_reason or "")
    with session_scope(app.factory) as session:
        assert {first, second} <= {i.token for i in open_items(session)}


def test_a_command_in_reply_to_our_acknowledgement_is_flagged(settings: Settings) -> None:
    """Our letters' Message-IDs authorise nothing: a command answering one, without a token,
    is flagged and the case is not touched."""
    app = build(settings, clock=FixedClock(MONDAY))
    _feed(app, fixture_mail("new_request_plain_foia.eml"), "1")
    case = _case(app)
    (ack,) = _outbox(app, f"case:{case.reference}:acknowledgement")
    raw = (FIXTURES / "triage" / "staff_inbox_command_dmarc.eml").read_bytes()
    raw = raw.replace(b"{COMMAND}", f"close {case.reference} refused".encode())
    raw = raw.replace(b"[FOI triage {TOKEN}] ", b"").replace(b"{DMARC}", b"pass")
    raw = raw.replace(b"MIME-Version", f"In-Reply-To: <{ack.message_id}>\nMIME-Version".encode(),
                      1)

    row = _feed(app, raw, "2")

    assert row.needs_person and "triage_command" == row.rule
    assert case.status == _case(app).status


def test_a_merged_case_s_reference_finds_the_case_it_was_merged_into(settings: Settings) -> None:
    """Mail quoting A's reference after `merge A into B` is matched to B."""
    from foi_mailbot.storage import queries

    app = build(settings, clock=FixedClock(MONDAY))
    _feed(app, fixture_mail("new_request_plain_foia.eml"), "1")
    token = _flag_request(app, "2", "new_request_journalist.eml")
    with session_scope(app.factory) as session:
        a, b = session.scalars(select(Case.reference).order_by(Case.id)).all()
    _feed(app, _command("reply_outlook_command_in_sent.eml", token, f"merge {a} into {b}"), "3",
          "sent")

    with session_scope(app.factory) as session:
        found = queries.case_by_reference(session, a)
        assert found is not None and b == found.reference


def test_an_out_of_office_quoting_a_token_is_no_command_and_gets_no_answer(
    settings: Settings,
) -> None:
    """A staff member's automatic reply to a confirmation carries its token: it is automatic
    mail, not a command, so nothing answers it (no loop)."""
    app = build(settings, clock=FixedClock(MONDAY))
    token, _ = _stray(app)

    row = _feed(app, fixture_mail("auto_reply_outlook_ooo.eml",
                                  From="Jane Smith <jane.smith@example.gov.uk>",
                                  Subject=f"Automatic reply: [FOI triage {token}] done: x"), "3")

    assert "auto_reply" == row.kind
    assert [] == _outbox(app, "triage:reply:%")


def test_law_withdrawn_and_resume_replies_by_reply(settings: Settings) -> None:
    """`law eir` recomputes under the EIR; `withdrawn` closes the case as withdrawn; `resume
    replies DOMAIN` lifts a tripped loop breaker."""
    from foi_mailbot.outbound import breaker
    from foi_mailbot.storage.state import put_state

    app = build(settings, clock=FixedClock(MONDAY))
    first = _flag_request(app, "1")
    _feed(app, _command("reply_outlook_command_in_sent.eml", first, "law eir"), "2", "sent")
    assert "eir" == _case(app).law

    with session_scope(app.factory) as session:
        put_state(session, breaker.STATE_PREFIX + "helpdesk.example.org",
                  {"tripped_at": MONDAY.isoformat()}, MONDAY)
        row = session.scalars(select(InboundMessage).where(
            InboundMessage.direction == "inbound")).one()
        row.needs_person, row.resolved_at = True, None
        item = session.get(TriageItem, row.id)
        assert item is not None
        second = reopen(item)
    _feed(app, _command("reply_outlook_command_in_sent.eml", second,
                        "resume replies helpdesk.example.org")
          .replace(b"B8C9D0LO2P", b"B8C9D3LO2P"), "3", "sent")
    with session_scope(app.factory) as session:
        assert breaker.stopped(session, "helpdesk.example.org") is None
        item = session.get(TriageItem, row.id)
        assert item is not None
        third = reopen(item)
    _feed(app, _command("reply_outlook_command_in_sent.eml", third, "withdrawn")
          .replace(b"B8C9D0LO2P", b"B8C9D4LO2P"), "4", "sent")

    case = _case(app)
    assert (State.CLOSED.value, "withdrawn") == (case.status, case.outcome)
