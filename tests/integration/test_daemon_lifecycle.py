"""The running daemon: IDLE wakes it, SIGTERM stops it cleanly, and its logs hold no secrets."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from foi_mailbot.bootstrap import build
from foi_mailbot.daemon import Daemon
from foi_mailbot.settings import Settings
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import InboundMessage
from tests.integration.daemon_process import DaemonProcess, wait_until, write_config
from tests.integration.harness import fixture_mail, imap_settings
from tests.servers.dovecot import Dovecot
from tests.servers.smtp_sink import SmtpSink

pytestmark = pytest.mark.dovecot


def test_message_appended_during_idle_is_stored_within_two_seconds(
    make_settings: Callable[..., Settings], dovecot: Dovecot, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """While the daemon waits in IDLE, a new message is stored within 2 seconds."""
    settings = imap_settings(make_settings, dovecot, smtp_sink, f"sqlite:///{tmp_path / 'd.db'}")
    app = build(settings, with_source=True)
    assert app.source is not None
    daemon = Daemon(app, app.source)
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    time.sleep(1.5)  # let it settle into IDLE

    def stored() -> bool:
        with session_scope(app.factory) as session:
            return bool(session.scalar(select(func.count(InboundMessage.id))))

    try:
        dovecot.append("INBOX", fixture_mail("new_request_plain_foia.eml"))
        wait_until(stored, 2.0, "the message to be stored")
    finally:
        daemon.stop.set()
        thread.join(timeout=10)
        app.close()

    assert not thread.is_alive()


def test_sigterm_finishes_work_and_exits_zero_and_logs_hold_no_body_or_secret(
    dovecot: Dovecot, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """SIGTERM exits 0 within seconds; the log never shows the request's text or a password."""
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    config = write_config(tmp_path / "c.toml", db=db, dovecot=dovecot, sink=smtp_sink,
                          data_dir=tmp_path / "data")
    daemon = DaemonProcess(config, tmp_path / "daemon.log")
    daemon.start()
    raw = fixture_mail("new_request_plain_foia.eml")
    dovecot.append("INBOX", raw)
    wait_until(lambda: any("m.okafor@gmail.com" in d.rcpt_tos for d in smtp_sink.messages),
               30, "the acknowledgement")

    started = time.monotonic()
    code = daemon.terminate(timeout=20)

    assert 0 == code
    assert time.monotonic() - started < 15
    log = (tmp_path / "daemon.log").read_text()
    assert "daemon.stopped" in log
    assert dovecot.password not in log
    assert "agency staff spending" not in log  # the subject
    assert "Dear" not in log  # the body
