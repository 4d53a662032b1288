"""The outbox: exactly-once sending, retries on temporary failures, a person for permanent ones."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from foi_mailbot.bootstrap import App, build
from foi_mailbot.clock import FixedClock
from foi_mailbot.errors import PermanentError, TransientError
from foi_mailbot.outbound.compose import mint_message_id
from foi_mailbot.outbound.journal import SentJournal
from foi_mailbot.outbound.outbox import enqueue, own_message_ids
from foi_mailbot.settings import Settings
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import OutboxMessage, OutboxStatus
from tests.transports import MemorySentFolder, MemoryTransport


def _app(
    settings: Settings, clock: FixedClock, folder: MemorySentFolder | None = None
) -> tuple[App, MemoryTransport]:
    transport = MemoryTransport()
    return build(settings, clock=clock, transport=transport, sent_folder=folder), transport


def _queue(app: App, key: str = "case:1:acknowledgement") -> OutboxMessage | None:
    msg = EmailMessage()
    message_id = mint_message_id("example.gov.uk")
    msg["From"], msg["To"], msg["Subject"] = "foi@example.gov.uk", "a@example.org", "Ack"
    msg["Message-ID"] = f"<{message_id}>"
    msg.set_content("hello")
    with session_scope(app.factory) as session:
        return enqueue(session, key=key, message=msg, message_id=message_id,
                       to_email="a@example.org", purpose="acknowledgement", now=app.clock.now())


def _queue_acks(app: App, count: int) -> None:
    for number in range(count):
        _queue(app, f"case:{number}:acknowledgement")


def _copies_failing_then_recovered(
    settings: Settings, clock: FixedClock, count: int, error: Exception
) -> tuple[list[int], MemoryTransport]:
    """Send `count` acknowledgements while filing Sent copies raises `error`, then restart
    with filing working; returns the batches filed at the restart, and the transport."""
    folder = MemorySentFolder()
    app, transport = _app(settings, clock, folder)
    folder.fail_with = error
    _queue_acks(app, count)
    app.outbox.drain()
    folder.fail_with = None
    app.outbox.recover()
    return folder.batches, transport


def _status(app: App) -> str:
    with session_scope(app.factory) as session:
        return session.scalars(select(OutboxMessage.status)).one()


def test_enqueueing_the_same_purpose_twice_keeps_one_row(settings: Settings,
                                                          clock: FixedClock) -> None:
    """A second enqueue with the same key is a no-op."""
    app, _ = _app(settings, clock)

    assert _queue(app) is not None
    assert _queue(app) is None


def test_sending_twice_delivers_once(settings: Settings, clock: FixedClock) -> None:
    """A sent row is never sent again, however often the step runs."""
    app, transport = _app(settings, clock)
    _queue(app)

    app.outbox.drain()
    app.outbox.drain()

    assert 1 == len(transport.sent)
    assert OutboxStatus.SENT == _status(app)


def test_temporary_failure_retries_later(settings: Settings, clock: FixedClock) -> None:
    """A 4xx or connection error leaves the row pending with a later attempt time."""
    app, transport = _app(settings, clock)
    _queue(app)
    transport.fail_with.append(TransientError("421 try later"))

    app.outbox.drain()
    assert OutboxStatus.PENDING == _status(app)
    app.outbox.drain()
    assert [] == transport.sent

    clock.advance(timedelta(minutes=5))
    app.outbox.drain()
    assert 1 == len(transport.sent)


def test_permanent_failure_is_handed_to_a_person(settings: Settings, clock: FixedClock) -> None:
    """A 5xx refusal marks the row as needing attention; it is not retried."""
    app, transport = _app(settings, clock)
    _queue(app)
    transport.fail_with.append(PermanentError("550 no such user"))

    app.outbox.drain()
    clock.advance(timedelta(hours=1))
    app.outbox.drain()

    assert OutboxStatus.NEEDS_ATTENTION == _status(app)
    assert [] == transport.sent


@pytest.mark.parametrize(
    ("sent_folder_says", "expected"),
    [(True, OutboxStatus.SENT), (False, OutboxStatus.PENDING),
     (None, OutboxStatus.NEEDS_ATTENTION)],
)
def test_row_left_mid_send_is_checked_not_blindly_resent(
    settings: Settings, clock: FixedClock, sent_folder_says: bool | None, expected: str
) -> None:
    """A row a crash left in `sending` is settled by the Sent folder, or flagged."""
    app, _ = _app(settings, clock, MemorySentFolder(verdict=sent_folder_says))
    _queue(app)
    with session_scope(app.factory) as session:
        row = session.scalars(select(OutboxMessage)).one()
        row.status = OutboxStatus.SENDING

    app.outbox.recover()

    assert expected == _status(app)


def test_without_a_sent_folder_an_interrupted_send_is_flagged(
    settings: Settings, clock: FixedClock
) -> None:
    """With no way to check, the row goes to a person instead of being sent again."""
    app, transport = _app(settings, clock)
    _queue(app)
    with session_scope(app.factory) as session:
        session.scalars(select(OutboxMessage)).one().status = OutboxStatus.SENDING

    app.outbox.recover()
    app.outbox.drain()

    assert OutboxStatus.NEEDS_ATTENTION == _status(app)
    assert [] == transport.sent


class DiesAfterAcceptance(MemoryTransport):
    """The server takes the message, then the process dies before the goodbye."""

    def send(self, raw: bytes, on_accepted: Callable[[], None] | None = None) -> None:
        """See `Transport.send`."""
        super().send(raw, on_accepted)
        raise SystemExit(137)


def test_a_send_is_recorded_the_moment_the_server_accepts_it(
    settings: Settings, clock: FixedClock
) -> None:
    """Dying between acceptance and the end of the SMTP session: the restart knows it went."""
    transport = DiesAfterAcceptance()
    app = build(settings, clock=clock, transport=transport)
    row = _queue(app)

    with pytest.raises(SystemExit):
        app.outbox.drain()

    assert row is not None
    assert {row.id} == app.outbox.journal.read().accepted
    assert 1 == app.outbox.recover()
    app.outbox.drain()
    assert OutboxStatus.SENT == _status(app)
    assert 1 == len(transport.sent)


def test_a_sent_row_is_marked_with_the_next_claim_and_at_the_end_of_a_drain(
    settings: Settings, clock: FixedClock
) -> None:
    """The mark of a sent row rides on the next claim's commit; the last one is written too."""
    app, transport = _app(settings, clock)
    _queue(app, "case:1:acknowledgement")
    _queue(app, "case:2:acknowledgement")

    assert 2 == app.outbox.drain()

    with session_scope(app.factory) as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        assert [OutboxStatus.SENT, OutboxStatus.SENT] == [row.status for row in rows]
        assert all(row.sent_at is not None for row in rows)
    assert 2 == len(transport.sent)


def test_a_stop_releases_the_claimed_rows_not_yet_tried(
    settings: Settings, clock: FixedClock
) -> None:
    """send_due claims a batch; stopping after the first leaves the others due, uncounted."""
    app, transport = _app(settings, clock)
    _queue_acks(app, 3)

    assert 1 == app.outbox.send_due(stop=lambda: True)

    with session_scope(app.factory) as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        assert [OutboxStatus.SENT, OutboxStatus.PENDING, OutboxStatus.PENDING] == [
            row.status for row in rows
        ]
        assert [1, 0, 0] == [row.attempts for row in rows]
    assert 1 == len(transport.sent)


def test_a_row_the_journal_saw_accepted_is_settled_as_sent_without_asking(
    settings: Settings, clock: FixedClock
) -> None:
    """Killed after the server's acceptance but before the row was marked: sent, not resent."""
    folder = MemorySentFolder()
    app, transport = _app(settings, clock, folder)
    row = _queue(app)
    assert row is not None
    with session_scope(app.factory) as session:
        session.scalars(select(OutboxMessage)).one().status = OutboxStatus.SENDING
    app.outbox.journal.record(row.id)

    app.outbox.recover()
    app.outbox.drain()

    assert OutboxStatus.SENT == _status(app)
    assert [] == folder.asked
    assert [] == transport.sent
    assert not app.outbox.journal.path.exists()


class DiesOnTheSecondSend(MemoryTransport):
    """The first message is accepted; the process dies while handing over the second."""

    def send(self, raw: bytes, on_accepted: Callable[[], None] | None = None) -> None:
        """See `Transport.send`."""
        if self.sent:
            raise SystemExit(137)
        super().send(raw, on_accepted)


def _killed_mid_batch(settings: Settings, clock: FixedClock) -> App:
    """Three rows claimed in one commit; the process dies sending the second."""
    app = build(settings, clock=clock, transport=DiesOnTheSecondSend())
    _queue_acks(app, 3)
    with pytest.raises(SystemExit):
        app.outbox.drain()
    app.outbox.close()
    return build(settings, clock=clock, transport=MemoryTransport())


def _statuses(app: App) -> list[tuple[str, int]]:
    with session_scope(app.factory) as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        return [(row.status, row.attempts) for row in rows]


def test_rows_claimed_together_and_never_tried_are_simply_due_again_after_a_kill(
    settings: Settings, clock: FixedClock
) -> None:
    """Only the row in the server's hands is in doubt; the untried one goes out, counted once."""
    app = _killed_mid_batch(settings, clock)

    assert 3 == app.outbox.recover()

    assert [(OutboxStatus.SENT, 1), (OutboxStatus.NEEDS_ATTENTION, 1),
            (OutboxStatus.PENDING, 0)] == _statuses(app)
    assert 1 == app.outbox.drain()


def test_after_a_reboot_the_journal_is_believed_only_on_what_was_accepted(
    settings: Settings, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A power cut may have lost lines: a row not seen tried could have gone, so a person looks."""
    app = _killed_mid_batch(settings, clock)
    monkeypatch.setattr("foi_mailbot.outbound.journal.boot_id", lambda: "another-boot")

    app.outbox.recover()

    assert [(OutboxStatus.SENT, 1), (OutboxStatus.NEEDS_ATTENTION, 1),
            (OutboxStatus.NEEDS_ATTENTION, 1)] == _statuses(app)


def test_the_journal_ignores_a_line_torn_by_a_kill(tmp_path: Path) -> None:
    """Only whole lines count: a kill mid-write cannot settle the wrong row."""
    journal = SentJournal(tmp_path / "sent.journal")
    journal.record(7)
    with journal.path.open("a") as handle:
        handle.write("1")

    assert {7} == journal.read().accepted


def test_sent_copies_are_filed_in_batches_and_recorded(
    settings: Settings, clock: FixedClock
) -> None:
    """25 acknowledgements: their copies go to Sent in two commands, and every row says so."""
    folder = MemorySentFolder()
    app, _transport = _app(settings, clock, folder)
    _queue_acks(app, 25)

    assert 25 == app.outbox.drain()

    assert [20, 5] == folder.batches
    with session_scope(app.factory) as session:
        rows = session.scalars(select(OutboxMessage)).all()
        assert all(row.copied_to_sent and row.status == OutboxStatus.SENT for row in rows)


def _copied(settings: Settings, clock: FixedClock) -> list[bool]:
    app, _ = _app(settings, clock)
    with session_scope(app.factory) as session:
        return list(session.scalars(
            select(OutboxMessage.copied_to_sent).order_by(OutboxMessage.id)))


def test_a_drain_has_filed_and_recorded_its_sent_copies_when_it_returns(
    settings: Settings, clock: FixedClock
) -> None:
    """The copies are filed in the drain, after each batch's sends: none is left for later."""
    folder = MemorySentFolder()
    app, transport = _app(settings, clock, folder)
    _queue_acks(app, 3)

    assert 3 == app.outbox.drain()

    assert [3] == folder.batches and 3 == len(transport.sent)
    assert [True, True, True] == _copied(settings, clock)


def test_a_stop_mid_batch_still_files_the_copies_of_what_went(
    settings: Settings, clock: FixedClock
) -> None:
    """Stopping after the first send: its copy is filed and recorded; the rest wait, uncopied."""
    folder = MemorySentFolder()
    app, _transport = _app(settings, clock, folder)
    _queue_acks(app, 2)

    assert 1 == app.outbox.drain(stop=lambda: True)

    assert [1] == folder.batches
    assert [True, False] == _copied(settings, clock)


def test_an_unexpected_failure_filing_copies_stops_nothing(
    settings: Settings, clock: FixedClock
) -> None:
    """Any error filing copies is logged; the mail has gone, and the copies are made at the
    next start."""
    filed, transport = _copies_failing_then_recovered(settings, clock, 2,
                                                      RuntimeError("unexpected"))

    assert [2] == filed and 2 == len(transport.sent)
    assert [True, True] == _copied(settings, clock)


def test_a_failed_sent_copy_is_filed_at_the_next_start(
    settings: Settings, clock: FixedClock
) -> None:
    """The Sent folder refusing twice leaves the rows sent but uncopied; recovery files them."""
    filed, transport = _copies_failing_then_recovered(settings, clock, 3,
                                                      TransientError("NO [SERVERBUG]"))

    assert [3] == filed
    app, _ = _app(settings, clock)
    with session_scope(app.factory) as session:
        rows = session.scalars(select(OutboxMessage)).all()
        assert all(row.copied_to_sent and row.status == OutboxStatus.SENT for row in rows)
    assert 3 == len(transport.sent)


def test_only_a_minted_message_id_is_queued(settings: Settings, clock: FixedClock) -> None:
    """Our own mail coming back is known by the Message-ID we minted: nothing else is queued."""
    app, _ = _app(settings, clock)
    msg = EmailMessage()
    msg["Message-ID"] = "<reply-1@example.gov.uk>"
    with session_scope(app.factory) as session, pytest.raises(ValueError, match="minted"):
        enqueue(session, key="case:1:acknowledgement", message=msg,
                message_id="reply-1@example.gov.uk", to_email="a@example.org",
                purpose="acknowledgement", now=app.clock.now())


def test_only_ids_of_the_minted_shape_are_looked_for_among_ours(
    settings: Settings, clock: FixedClock
) -> None:
    """Staff mail filed in Sent has other Message-IDs: they are never asked about."""
    app, _ = _app(settings, clock)
    queued = _queue(app)
    assert queued is not None
    asked: list[str] = []
    event.listen(app.engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_a: asked.append(statement))

    assert set() == own_message_ids(app.factory, {"staff-note-1@example.gov.uk"})
    assert [] == asked
    assert {queued.message_id} == own_message_ids(
        app.factory, {queued.message_id, "staff-note-1@example.gov.uk"})


def _outcomes_lost_once(app: App) -> list[bool]:
    """The commit that writes a batch's outcomes fails once, as when the database goes away
    (the claims before it went through); returns a list that is non-empty once it has."""
    lost: list[bool] = []

    def cut(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if not lost and statement.startswith("UPDATE outbox_message") and "sent_at" in statement:
            lost.append(True)
            raise OperationalError(statement, None, Exception("server closed the connection"))

    event.listen(app.engine, "before_cursor_execute", cut)
    return lost


def test_a_database_outage_after_sending_is_settled_by_the_next_drain_without_a_resend(
    settings: Settings, clock: FixedClock
) -> None:
    """The outcomes of a batch cannot be written: the next drain reads them in the journal."""
    app, transport = _app(settings, clock)
    _queue_acks(app, 3)
    transport.fail_with.append(TransientError("421 try later"))
    lost = _outcomes_lost_once(app)

    with pytest.raises(OperationalError):
        app.outbox.drain()
    assert lost and 2 == len(transport.sent)

    assert 0 == app.outbox.drain()

    assert [(OutboxStatus.PENDING, 1), (OutboxStatus.SENT, 1), (OutboxStatus.SENT, 1)] == (
        _statuses(app))
    assert 2 == len(transport.sent)
    clock.advance(timedelta(minutes=5))
    assert 1 == app.outbox.drain()


def test_a_drain_leaves_alone_a_row_sent_from_elsewhere_which_recovery_at_start_settles(
    settings: Settings, clock: FixedClock
) -> None:
    """A row `sending` that this machine's journal never claimed may be in another sender's
    hands: only `recover`, run at start by the one active instance, decides it."""
    app, transport = _app(settings, clock)
    _queue(app)
    with session_scope(app.factory) as session:
        session.scalars(select(OutboxMessage)).one().status = OutboxStatus.SENDING

    assert 0 == app.outbox.drain()
    assert OutboxStatus.SENDING == _status(app)

    assert 1 == app.outbox.recover()
    assert OutboxStatus.NEEDS_ATTENTION == _status(app)
    assert [] == transport.sent


def test_a_second_sender_on_the_machine_waits_for_the_first(
    settings: Settings, clock: FixedClock
) -> None:
    """Two senders sharing the journal never run at once: one would read the other's rows as
    left in doubt."""
    app, _ = _app(settings, clock)
    other, _ = _app(settings, clock)
    _queue(app)
    done = threading.Event()
    worker = threading.Thread(target=lambda: (other.outbox.drain(), done.set()))

    with app.outbox.journal.held():
        worker.start()
        assert not done.wait(0.3)
    worker.join(10)

    assert done.is_set()


def test_a_drain_that_ends_cleanly_leaves_no_journal_behind(
    settings: Settings, clock: FixedClock
) -> None:
    """Every row it claimed is settled in the database, so the next drain has nothing to read."""
    app, transport = _app(settings, clock)
    _queue_acks(app, 2)
    transport.fail_with.append(TransientError("421 try later"))

    assert 1 == app.outbox.drain()

    assert not app.outbox.journal.path.exists()


def test_the_scheduled_send_skips_its_turn_while_the_mail_loop_is_mid_cycle(
    settings: Settings, clock: FixedClock
) -> None:
    """The loop sends the outbox at the end of its cycle; the scheduler's sweep does not wait."""
    app, transport = _app(settings, clock)
    _queue(app)

    with app.mail_lock:
        assert 0 == app.send_unless_busy(lambda: False)
    assert [] == transport.sent

    assert 1 == app.send_unless_busy(lambda: False)


def test_a_send_in_doubt_is_left_to_the_recovery_at_start_which_asks_the_sent_folder(
    settings: Settings, clock: FixedClock
) -> None:
    """A send that began and whose end nobody saw: a later drain (say, a CLI command) leaves it;
    the daemon's start looks in Sent, does not find it, and it goes once."""
    app, transport = _app(settings, clock, MemorySentFolder(verdict=False))
    row = _queue(app)
    assert row is not None
    with session_scope(app.factory) as session:
        session.scalars(select(OutboxMessage)).one().status = OutboxStatus.SENDING
    app.outbox.journal.claimed([row.id])
    app.outbox.journal.tried(row.id)

    assert 0 == app.outbox.drain()
    assert OutboxStatus.SENDING == _status(app)

    assert 1 == app.outbox.recover()
    assert 1 == app.outbox.drain()
    assert 1 == len(transport.sent)
