"""Attempts are counted in the database: a failure, a kill and a database outage, each as it is.

Messages are claimed a batch at a time (`processing`, one attempt more, committed) before any
work, and each is worked in a savepoint of its own. The kill tests end a real process with
SIGKILL while it holds a batch; a restart finds the rows as the dead process left them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy.orm import Session

from foi_mailbot import attempts
from foi_mailbot import pipeline as pipeline_module
from foi_mailbot.bootstrap import App, build
from foi_mailbot.clock import FixedClock
from foi_mailbot.ingest import store
from foi_mailbot.settings import Settings
from foi_mailbot.sources import RawMail
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import AuditEntry, CaseEvent, InboundMessage
from tests.conftest import PG_URL, SECRET
from tests.integration.faults_support import terminate_sessions, with_application_name

FIXTURE = Path(__file__).parents[1] / "fixtures" / "new_request_plain_foia.eml"
NOW = datetime(2026, 1, 12, 10, tzinfo=UTC)
ORIGINAL_SUBJECT = "Freedom of Information request - agency staff spending"
KILLING_SUBJECT = "Street lighting: the message that kills"

# A daemon whose classifier dies (SIGKILL, nothing cleaned up) on one subject.
_DYING_PROCESS = """
import json, os, signal, sys
from foi_mailbot import pipeline
from foi_mailbot.bootstrap import build
from foi_mailbot.settings import Settings

real = pipeline.classify

def dying(mail, ctx, *folded):
    if mail.subject == sys.argv[2]:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(mail, ctx, *folded)

pipeline.classify = dying
build(Settings(**json.loads(sys.argv[1]))).pipeline.run_pending()
"""


def _store(app: App, n: int, subject: str = "Street lighting costs") -> int:
    text = FIXTURE.read_text().replace("Message-ID: <", f"Message-ID: <{n}.", 1)
    raw = text.replace(ORIGINAL_SUBJECT, subject, 1).encode()
    mail = RawMail(f"test:{n}", "foi@example.gov.uk", "INBOX", None, None, NOW, raw, "inbound")
    return store(app.factory, mail, app.clock).message_pk


def _row(app: App, pk: int) -> InboundMessage:
    with session_scope(app.factory) as session:
        row = session.get(InboundMessage, pk)
        assert row is not None
        return row


def _settings_document(settings: Settings) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(settings.model_dump_json(exclude_defaults=True))
    document["organisation"]["reference_secret"] = SECRET
    document["database"] = {"url": settings.database.resolved_url(settings.paths)}
    return document


def _run_dying_process(settings: Settings) -> int:
    """A new process takes up the pending messages; returns its exit code."""
    done = subprocess.run(
        [sys.executable, "-c", _DYING_PROCESS, json.dumps(_settings_document(settings)),
         KILLING_SUBJECT],
        check=False, timeout=120, cwd=Path(__file__).parents[2],
    )
    return done.returncode


def test_failing_message_is_handed_to_a_person_after_three_attempts(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three failures mark the message needs_attention with the error; no fourth try."""
    app = build(settings, clock=FixedClock(NOW))
    pk = _store(app, 1)

    def broken(*_args: object) -> object:
        msg = "classifier blew up"
        raise RuntimeError(msg)

    monkeypatch.setattr(pipeline_module, "classify", broken)
    after_first: list[tuple[str, int]] = []
    for _ in range(5):
        app.pipeline.run_pending()
        after_first.append((_row(app, pk).status, _row(app, pk).attempts))

    row = _row(app, pk)
    assert ("stored", 1) == after_first[0]  # back to pending, its error kept
    assert "needs_attention" == row.status
    assert row.needs_person
    assert "classifier blew up" in (row.attention_reason or "")
    assert 3 == row.attempts


def test_a_message_is_applied_with_one_attempt(settings: Settings) -> None:
    """The normal path: claimed (one attempt), applied."""
    app = build(settings, clock=FixedClock(NOW))
    pk = _store(app, 1)

    app.pipeline.run_pending()

    assert ("applied", 1) == (_row(app, pk).status, _row(app, pk).attempts)


def _batches_claimed(app: App, monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """The messages of each claim the pipeline makes, in order."""
    claimed: list[list[int]] = []
    claim = attempts.claim

    def noting(session: Session, message_pks: list[int]) -> dict[int, InboundMessage]:
        claimed.append(list(message_pks))
        return claim(session, message_pks)

    monkeypatch.setattr(attempts, "claim", noting)
    return claimed


def test_a_batch_in_hand_at_a_kill_has_one_attempt_each_and_is_retried_one_at_a_time(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed with a batch in hand: its messages are `processing` with one attempt each, and
    nothing else was touched. The restart takes new mail first, then each message of the
    interrupted batch in a claim and a transaction of its own, and applies them all."""
    app = build(settings, clock=FixedClock(NOW))
    killer = _store(app, 1, KILLING_SUBJECT)
    others = [_store(app, n) for n in (2, 3)]

    assert -9 == _run_dying_process(settings)
    assert all(("processing", 1) == (_row(app, pk).status, _row(app, pk).attempts)
               for pk in (killer, *others))
    arrived_since = _store(app, 4)

    restarted = build(settings, clock=FixedClock(NOW))
    claimed = _batches_claimed(restarted, monkeypatch)
    restarted.pipeline.run_pending()

    assert [[arrived_since], [killer], *[[pk] for pk in others]] == claimed
    assert all(("applied", 2) == (_row(app, pk).status, _row(app, pk).attempts)
               for pk in (killer, *others))
    assert ("applied", 1) == (_row(app, arrived_since).status, _row(app, arrived_since).attempts)


def test_a_failing_message_in_a_batch_is_rolled_back_alone(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One message of a batch fails: nothing it wrote is kept, its try is counted, and the
    messages before and after it in the batch are applied."""
    app = build(settings, clock=FixedClock(NOW))
    first, failing, last = _store(app, 1), _store(app, 2, "Street lighting: fails"), _store(app, 3)
    real = pipeline_module.apply

    def apply_then_fail(session: Session, services: Any, row: InboundMessage, *args: Any) -> Any:
        outcome = real(session, services, row, *args)
        if row.id == failing:
            msg = "the letter could not be composed"
            raise RuntimeError(msg)
        return outcome

    monkeypatch.setattr(pipeline_module, "apply", apply_then_fail)
    claimed = _batches_claimed(app, monkeypatch)
    app.pipeline.run_pending()

    assert [[first, failing, last]] == claimed
    assert all("applied" == _row(app, pk).status for pk in (first, last))
    row = _row(app, failing)
    assert ("stored", 1, None) == (row.status, row.attempts, row.case_id)
    assert "could not be composed" in (row.last_error or "")
    with session_scope(app.factory) as session:  # nothing it wrote was kept
        assert 0 == session.query(AuditEntry).filter_by(message_pk=failing).count()
        assert 0 == session.query(CaseEvent).filter_by(message_pk=failing).count()


def test_a_message_that_kills_three_processes_goes_to_a_person_untried(
    settings: Settings,
) -> None:
    """Three kills with the same message in hand: the fourth process hands it to a person
    without trying it, and applies the others."""
    app = build(settings, clock=FixedClock(NOW))
    killer = _store(app, 1, KILLING_SUBJECT)
    other = _store(app, 2)

    codes = [_run_dying_process(settings) for _ in range(3)]
    assert [-9, -9, -9] == codes
    assert 0 == _run_dying_process(settings)

    row = _row(app, killer)
    assert ("needs_attention", 3) == (row.status, row.attempts)
    assert row.needs_person
    assert "the process stopped while it was in hand" in (row.attention_reason or "")
    assert "applied" == _row(app, other).status


@pytest.fixture
def cut_url(pg_url: str) -> tuple[str, str]:
    """A private PostgreSQL schema reached under a name of its own, so its sessions can be cut."""
    name = f"foi-outage-{uuid.uuid4().hex[:12]}"
    return with_application_name(pg_url, name), name


@pytest.mark.postgres
def test_a_database_outage_mid_message_counts_no_attempt(
    make_settings: Callable[..., Settings], cut_url: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The database's sessions are ended while a message is in hand: the pass stops, the claim
    is released (no attempt counted, no failure logged) and the next pass applies it."""
    url, name = cut_url
    app = build(make_settings(db=url), clock=FixedClock(NOW))
    pk = _store(app, 1)
    real = pipeline_module.classify

    def cut_then_classify(*args: Any) -> Any:
        terminate_sessions(PG_URL, name, spare_lock=False)
        return real(*args)

    monkeypatch.setattr(pipeline_module, "classify", cut_then_classify)
    with structlog.testing.capture_logs() as logs, pytest.raises(Exception) as raised:
        app.pipeline.run_pending()

    assert "OperationalError" == type(raised.value).__name__
    assert ("stored", 0) == (_row(app, pk).status, _row(app, pk).attempts)
    assert "message.failed" not in [entry["event"] for entry in logs]
    monkeypatch.setattr(pipeline_module, "classify", real)
    app.pipeline.run_pending()
    assert ("applied", 1) == (_row(app, pk).status, _row(app, pk).attempts)


def test_a_later_message_in_a_batch_sees_what_an_earlier_one_wrote(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In one batch each message's look-ups see the earlier messages' work: a second copy of
    a request is known as one, and the requester's reply in its thread lands on the case the
    first opened."""
    app = build(settings, clock=FixedClock(NOW))
    request = FIXTURE.read_bytes()
    delivered_again = b"Received: from relay2.example.net by mx2.example.gov.uk;\r\n" + request
    reply = (
        "From: Michael Okafor <m.okafor@gmail.com>\r\nTo: foi@example.gov.uk\r\n"
        f"Subject: Re: {ORIGINAL_SUBJECT}\r\nDate: Mon, 12 Jan 2026 09:40:12 +0000\r\n"
        "Message-ID: <CAF3xK9q-second-thought@mail.gmail.com>\r\n"
        "In-Reply-To: <CAF3xK9q2mR7tPz4nW1vYbQeLd8sHj0uT5cA6gN3oX2iE7fZ4kw@mail.gmail.com>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n"
        "Sorry, one more thing: could the figures include 2021/22 as well?\r\n\r\nMichael\r\n"
    ).encode()
    pks = [store(app.factory, RawMail(f"test:{n}", "foi@example.gov.uk", "INBOX", None, None,
                                      NOW, raw, "inbound"), app.clock).message_pk
           for n, raw in enumerate((request, delivered_again, reply))]
    claimed = _batches_claimed(app, monkeypatch)

    app.pipeline.run_pending()

    assert [pks] == claimed
    first, copy, answer = (_row(app, pk) for pk in pks)
    assert first.case_id is not None
    assert "duplicate" == copy.status
    assert first.case_id == answer.case_id
