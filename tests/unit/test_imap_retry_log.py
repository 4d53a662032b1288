"""Every reconnection attempt to an unreachable mailbox is logged with the real next attempt."""

from __future__ import annotations

import re
import socket
import threading
import time

from structlog.testing import capture_logs

from foi_mailbot.clock import FixedClock
from foi_mailbot.settings import MailboxSettings
from foi_mailbot.sources.imap_session import ImapSession


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_each_failed_reconnection_is_logged_with_when_the_next_one_is() -> None:
    """While the mailbox is down, each attempt says when the next comes, and it comes then."""
    box = MailboxSettings(host="127.0.0.1", port=_closed_port(), security="none",
                          username="u", password="p", timeout_seconds=2)
    session = ImapSession(box, "u@127.0.0.1", FixedClock())
    with capture_logs() as logs:
        started = time.monotonic()
        session.reconnect_within(started + 4.0, threading.Event())
    failed = [e for e in logs if e["event"] == "imap.reconnect_failed"]
    assert len(failed) >= 2
    promised = [float(m.group(1)) for e in failed
                if (m := re.search(r"retrying in (\d+) s", e["error"]))]
    assert len(promised) == len(failed)
    assert all(delay <= 4 for delay in promised[:2])
