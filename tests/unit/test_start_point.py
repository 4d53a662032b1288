"""The start point on the embedded Maildir: what waits in new/ at the first start is history
under `start = "new"` (left where it is, never answered) and stored as history under
`"import"`; mail delivered after the start is new mail."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from foi_mailbot.bootstrap import build
from foi_mailbot.clock import FixedClock
from foi_mailbot.daemon import Daemon
from foi_mailbot.settings import Settings
from foi_mailbot.sources.maildir import MaildirSource
from foi_mailbot.sources.start import Start, header_hash
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import Case, InboundMessage
from tests.unit.test_maildir_source import FOLLOWUP, REQUEST, deliver

FIXTURES = Path(__file__).parents[1] / "fixtures"


def _daemon(settings: Settings, clock: FixedClock) -> Daemon:
    app = build(settings, clock=clock, with_source=True)
    assert app.source is not None
    return Daemon(app, app.source)


def _outgoing(settings: Settings) -> list[Path]:
    return sorted(settings.paths.outgoing().glob("*.eml"))


@pytest.mark.parametrize("start", ["new", "import"])
def test_mail_waiting_at_the_first_start_is_history_and_later_mail_is_answered(
    make_settings: Callable[..., Settings], tmp_path: Path, clock: FixedClock, start: str,
) -> None:
    settings = make_settings(mailbox={"start": start})
    maildir = tmp_path / "maildir"
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True)
    old = deliver(maildir, "1700000000.M1P1.host", REQUEST, at=clock.now())
    daemon = _daemon(settings, clock)

    daemon.run_until_idle()
    after_start = _outgoing(settings)
    deliver(maildir, "1767600000.M2P1.host", (FIXTURES / "new_request_journalist.eml").read_bytes(),
            at=clock.now())
    daemon.run_until_idle()
    with session_scope(daemon.app.factory) as session:
        stored = list(session.scalars(select(InboundMessage).order_by(InboundMessage.id)))
        holds = [c.hold for c in session.scalars(select(Case).order_by(Case.id))]
    daemon.app.close()

    assert [] == after_start
    assert 1 == len(_outgoing(settings))
    if start == "new":
        assert old.exists()  # left in new/, unread
        assert [False] == [m.history for m in stored]
        assert [None] == holds
    else:
        assert not old.exists()
        assert [True, False] == [m.history for m in stored]
        assert ["to confirm", None] == holds


def test_history_left_in_new_does_not_wake_the_loop(
    make_settings: Callable[..., Settings], tmp_path: Path, clock: FixedClock,
) -> None:
    """The poll looks for files not yet handed over; history counts as seen."""
    settings = make_settings(mailbox={"start": "new"})
    maildir = tmp_path / "maildir"
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True)
    deliver(maildir, "1700000000.M1P1.host", FOLLOWUP, at=clock.now())
    daemon = _daemon(settings, clock)
    daemon.run_until_idle()
    source = daemon.source
    assert isinstance(source, MaildirSource)

    stop = threading.Event()
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    source.wait(5.0, stop)
    timer.cancel()
    daemon.app.close()

    assert stop.is_set()  # waited until told to stop: nothing new


def test_history_is_known_by_message_id_or_header_hash_after_renumbering() -> None:
    header = b"From: a@example.com\r\nMessage-ID: <a@example.com>\r\n"
    start = Start("new", uidvalidity=7, uidnext=11, message_ids=frozenset({"<a@example.com>"}),
                  header_hashes=frozenset({header_hash(header)}))

    assert start.holds(7, 10) and not start.holds(7, 11) and not start.holds(8, 3)
    assert start.renumbered(8) and not start.renumbered(7)
    assert start.is_history(None, header_hash(header.replace(b"\r\n", b"\n")))
    assert start.is_history("<a@example.com>", "other")
    assert not start.is_history("<b@example.com>", "other")
    assert start == Start.from_json(start.as_json())


def test_a_dry_run_before_the_first_start_counts_the_history_and_records_nothing(
    make_settings: Callable[..., Settings], tmp_path: Path, clock: FixedClock,
) -> None:
    from foi_mailbot.dry_run import run_dry
    from foi_mailbot.storage.models import ServiceState

    settings = make_settings(mailbox={"start": "new"})
    maildir = tmp_path / "maildir"
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True)
    deliver(maildir, "1700000000.M1P1.host", REQUEST, at=clock.now())
    said: list[str] = []

    decided = run_dry(settings, said.append)
    app = build(settings)
    with session_scope(app.factory) as session:
        states = list(session.scalars(select(ServiceState.key)))
    app.close()

    assert 0 == decided
    assert "1 messages already in the mailbox would be taken as history" in said[0]
    assert [] == states


def test_a_letter_waits_when_the_mail_is_old_or_the_due_date_has_passed() -> None:
    from datetime import date

    from foi_mailbot.bootstrap import clock_policy
    from foi_mailbot.cases.holding import LETTER_HELD, letter_hold
    from foi_mailbot.cases.register import Calendars
    from foi_mailbot.deadlines.laws import Law

    calendars = Calendars(clock_policy(Settings()))

    def hold(received: date, today: date, due: date | None = None, history: bool = False
             ) -> str | None:
        found = letter_hold(history=history, received=received, today=today, due=due,
                            law=Law.FOIA, calendars=calendars, within=2)
        return found.hold if found else None

    friday, tuesday, wednesday = date(2026, 1, 9), date(2026, 1, 13), date(2026, 1, 14)
    assert hold(friday, tuesday) is None  # two working days: Monday and Tuesday
    assert LETTER_HELD == hold(friday, wednesday)
    assert LETTER_HELD == hold(tuesday, wednesday, due=tuesday)
    assert "to confirm" == hold(tuesday, tuesday, history=True)
