"""The embedded default end to end: a Maildir in, the register, acknowledgements to a folder."""

from __future__ import annotations

from collections.abc import Callable
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import structlog
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from foi_mailbot import daemon as daemon_module
from foi_mailbot.bootstrap import App, build
from foi_mailbot.clock import FixedClock
from foi_mailbot.daemon import Daemon
from foi_mailbot.settings import Settings
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import Case, InboundMessage

FIXTURES = Path(__file__).parents[1] / "fixtures"


def _start(settings: Settings, clock: FixedClock) -> tuple[App, Daemon]:
    app = build(settings, clock=clock, with_source=True)
    assert app.source is not None
    return app, Daemon(app, app.source)


def _drop(maildir: Path, name: str, raw: bytes) -> None:
    (maildir / "new").mkdir(parents=True, exist_ok=True)
    (maildir / "tmp").mkdir(parents=True, exist_ok=True)
    (maildir / "cur").mkdir(parents=True, exist_ok=True)
    (maildir / "new" / name).write_bytes(raw)


def _first_fixture(prefix: str) -> bytes:
    return sorted(FIXTURES.glob(f"{prefix}*.eml"))[0].read_bytes()


def _outgoing(settings: Settings) -> list[bytes]:
    folder = settings.paths.outgoing()
    return [p.read_bytes() for p in sorted(folder.glob("*.eml"))] if folder.exists() else []


def test_new_request_in_maildir_opens_case_and_acknowledges_once(
    settings: Settings, clock: FixedClock, tmp_path: Path
) -> None:
    """A request dropped into the Maildir opens one case and writes one acknowledgement."""
    app, daemon = _start(settings, clock)
    maildir = Path(str(settings.mailbox.maildir))
    _drop(maildir, "1.eml", _first_fixture("new_request_"))

    daemon.run_until_idle()
    daemon.run_until_idle()

    with session_scope(app.factory) as session:
        cases = list(session.scalars(select(Case)))
    assert 1 == len(cases)
    assert cases[0].due_on is not None
    sent = _outgoing(settings)
    assert 1 == len(sent)
    ack = message_from_bytes(sent[0], policy=policy.default)
    assert cases[0].reference in str(ack["Subject"])
    assert "auto-replied" == ack["Auto-Submitted"]
    assert cases[0].reference in ack.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert not list((maildir / "new").iterdir())
    assert 1 == len(list((maildir / "cur").iterdir()))


def test_same_message_delivered_twice_is_one_record(
    settings: Settings, clock: FixedClock
) -> None:
    """The same bytes in two files become one stored message, one case, one acknowledgement."""
    app, daemon = _start(settings, clock)
    maildir = Path(str(settings.mailbox.maildir))
    raw = _first_fixture("new_request_")
    _drop(maildir, "a.eml", raw)
    _drop(maildir, "b.eml", raw)

    daemon.run_until_idle()

    with session_scope(app.factory) as session:
        assert 1 == len(list(session.scalars(select(InboundMessage))))
        assert 1 == len(list(session.scalars(select(Case))))
    assert 1 == len(_outgoing(settings))


def test_every_kind_of_bad_input_is_stored_and_the_loop_goes_on(
    make_settings: Callable[..., Settings], clock: FixedClock, tmp_path: Path
) -> None:
    """Malformed mail is stored and processed or flagged; a good message after it still works."""
    settings = make_settings()
    app, daemon = _start(settings, clock)
    maildir = Path(str(settings.mailbox.maildir))
    bad = sorted(FIXTURES.glob("malformed_*.eml"))
    for i, path in enumerate(bad):
        _drop(maildir, f"bad{i}.eml", path.read_bytes())
    huge = _first_fixture("new_request_").replace(b"\n\n", b"\nX-Pad: 1\n\n", 1)
    _drop(maildir, "huge.eml", huge + b"\n" + b"QUFB" * (25 * 1024 * 1024 // 4))
    _drop(maildir, "zz-good.eml", _first_fixture("new_request_"))

    daemon.run_until_idle()

    with session_scope(app.factory) as session:
        rows = list(session.scalars(select(InboundMessage)))
        states = {r.status for r in rows}
    assert len(bad) + 2 == len(rows)
    assert states <= {"applied", "needs_attention", "duplicate"}


def test_one_cycle_processes_a_backlog_larger_than_a_batch(
    settings: Settings, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Messages beyond the first batch are not left waiting for the next wake-up."""
    monkeypatch.setattr(daemon_module, "STORE_BATCH", 2)
    app, daemon = _start(settings, clock)
    maildir = Path(str(settings.mailbox.maildir))
    for n, fixture in enumerate(sorted(FIXTURES.glob("new_request_*.eml"))[:5]):
        _drop(maildir, f"{n}.eml", fixture.read_bytes())

    daemon.run_once()

    assert not app.pipeline.pending()
    with session_scope(app.factory) as session:
        assert 5 == len(list(session.scalars(select(Case))))


def test_a_cycle_stores_the_backlog_then_processes_it_then_sends(
    settings: Settings, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches are stored first (one commit each), then every message is processed (the nine
    in one batch), then the outbox is sent once: each reply once."""
    monkeypatch.setattr(daemon_module, "STORE_BATCH", 3)
    app, daemon = _start(settings, clock)
    maildir = Path(str(settings.mailbox.maildir))
    for n, fixture in enumerate(sorted(FIXTURES.glob("new_request_*.eml"))[:9]):
        _drop(maildir, f"{n:02d}.eml", fixture.read_bytes())
    events: list[str] = []
    store, run_batch, drain = daemon._store, app.pipeline.run_batch, app.outbox.drain
    monkeypatch.setattr(daemon, "_store", lambda batch: events.append("store") or store(batch))
    monkeypatch.setattr(app.pipeline, "run_batch",
                        lambda pks, *a: events.append(f"process {len(pks)}") or run_batch(pks, *a))
    monkeypatch.setattr(app.outbox, "drain", lambda **k: events.append("send") or drain(**k))

    daemon.run_once()

    assert ["store"] * 3 == events[:3], events
    assert ["process 9", "send"] == [e for e in events if e != "store"]
    assert not app.pipeline.pending()
    with session_scope(app.factory) as session:
        assert 9 == len(list(session.scalars(select(Case))))
    assert 9 == len(_outgoing(settings))


def test_a_message_that_fails_is_tried_once_a_cycle(
    settings: Settings, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure is recorded and left for the next cycle; the others are applied meanwhile."""
    app, daemon = _start(settings, clock)
    maildir = Path(str(settings.mailbox.maildir))
    for n, fixture in enumerate(sorted(FIXTURES.glob("new_request_*.eml"))[:4]):
        _drop(maildir, f"{n:02d}.eml", fixture.read_bytes())
    tries: list[int] = []
    process = app.pipeline.process

    def failing_first(session: Session, row: InboundMessage, parsed: object) -> object:
        if row.id == 1:
            tries.append(row.id)
            raise RuntimeError("cannot apply")
        return process(session, row, parsed)  # type: ignore[arg-type]

    monkeypatch.setattr(app.pipeline, "process", failing_first)

    daemon.run_once()

    with session_scope(app.factory) as session:
        first = session.get(InboundMessage, 1)
        assert first is not None and 1 == first.attempts and first.status == "stored"
        assert "RuntimeError: cannot apply" == first.last_error
        assert 3 == len(list(session.scalars(select(Case))))
    assert [1] == tries


def _mail(sender: str, subject: str, message_id: str, body: str, *headers: str) -> bytes:
    lines = [f"From: {sender}", "To: foi@example.gov.uk", f"Subject: {subject}",
             f"Message-ID: <{message_id}>", "Date: Mon, 05 Jan 2026 09:00:00 +0000", *headers,
             "Content-Type: text/plain; charset=utf-8", "", body, ""]
    return "\r\n".join(lines).encode()


def test_messages_of_one_cycle_see_what_earlier_ones_did(
    settings: Settings, clock: FixedClock
) -> None:
    """Applied one after another in one cycle, a reply threads into the case its request
    opened, a second message from that applicant on the same subject joins it, and a second
    copy of a request is known as one."""
    app, daemon = _start(settings, clock)
    maildir = Path(str(settings.mailbox.maildir))
    ask = "Please send me all recorded information about street lighting costs in 2025."
    _drop(maildir, "1.eml", _mail("Ann Example <ann@example.org>", "Street lighting costs",
                                  "r1@example.org", ask))
    _drop(maildir, "2.eml", _mail("Ann Example <ann@example.org>", "Re: Street lighting costs",
                                  "f1@example.org", "To clarify: the electricity costs only.",
                                  "In-Reply-To: <r1@example.org>", "References: <r1@example.org>"))
    _drop(maildir, "3.eml", _mail("Ann Example <ann@example.org>", "Street lighting costs",
                                  "r1@example.org", ask, "X-Relayed-By: list.example.org"))
    _drop(maildir, "4.eml", _mail("Bob Example <bob@example.org>", "Parking fines",
                                  "b1@example.org", "Please send me the number of parking "
                                  "fines issued in 2025 under the Freedom of Information Act."))
    _drop(maildir, "5.eml", _mail("Bob Example <bob@example.org>", "Re: Parking fines",
                                  "b2@example.org", "Also the income from them, please."))
    _drop(maildir, "6.eml", _mail("Cat Example <cat@example.org>", "Re: Parking fines",
                                  "c1@example.org", "I am helping Bob with this request.",
                                  "In-Reply-To: <b1@example.org>"))

    daemon.run_once()

    with session_scope(app.factory) as session:
        cases = {c.applicant_email: c.id for c in session.scalars(select(Case))}
        stored = list(session.scalars(select(InboundMessage)))
        rows = {r.message_id: r for r in stored}
        second_copy = [r for r in stored if r.status == "duplicate"]
    assert {"ann@example.org", "bob@example.org"} == set(cases)
    assert cases["ann@example.org"] == rows["f1@example.org"].case_id
    assert cases["bob@example.org"] == rows["b2@example.org"].case_id
    assert cases["bob@example.org"] == rows["c1@example.org"].case_id  # not the applicant
    assert 1 == len(second_copy)


def test_our_acknowledgement_coming_back_is_known_by_its_message_id_and_only_it_is_looked_up(
    settings: Settings, clock: FixedClock
) -> None:
    """An acknowledgement delivered back to the mailbox is our own mail, not parsed, not
    answered; mail whose Message-ID we could not have minted is never looked for among ours."""
    app, daemon = _start(settings, clock)
    maildir = Path(str(settings.mailbox.maildir))
    _drop(maildir, "1.eml", _mail("Ann Example <ann@example.org>", "Street lighting costs",
                                  "r1@example.org", "Please send me the street lighting costs."))
    looked_up: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if " ".join(statement.split()).startswith(
                "SELECT outbox_message.id FROM outbox_message WHERE outbox_message.message_id ="):
            looked_up.append(statement)

    for engine in (app.engine, app.quick_engine):
        if engine is not None:
            event.listen(engine, "before_cursor_execute", note)
    daemon.run_once()
    [ack] = _outgoing(settings)
    assert [] == looked_up  # r1@example.org: not a Message-ID we mint

    _drop(maildir, "2.eml", ack.replace(b"Auto-Submitted: auto-replied\r\n", b""))
    daemon.run_once()

    with session_scope(app.factory) as session:
        back = session.scalars(select(InboundMessage).where(InboundMessage.id == 2)).one()
        assert ("auto_reply", "our_own_message") == (back.kind, back.rule)
    assert 1 == len(looked_up)
    assert [ack] == _outgoing(settings)  # nothing sent to it


def test_a_cycle_that_did_something_reports_what_and_how_long_each_stage_took(
    settings: Settings, clock: FixedClock
) -> None:
    """One `cycle.done` event with the counts and each stage's seconds; an idle cycle is quiet."""
    _app, daemon = _start(settings, clock)
    maildir = Path(str(settings.mailbox.maildir))
    for n, fixture in enumerate(sorted(FIXTURES.glob("new_request_*.eml"))[:3]):
        _drop(maildir, f"{n}.eml", fixture.read_bytes())

    with structlog.testing.capture_logs() as logs:
        daemon.run_once()
        daemon.run_once()

    [done] = [entry for entry in logs if entry["event"] == "cycle.done"]
    assert (3, 3) == (done["stored"], done["processed"])
    assert all(done[stage] >= 0 for stage in ("store_seconds", "process_seconds",
                                              "send_seconds"))
