"""The IMAP source against a real, private Dovecot: fetch, checkpoint, move/flag, IDLE, reconnect."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from foi_mailbot.errors import TransientError
from foi_mailbot.sources import RawMail
from foi_mailbot.sources.imap import ImapSource
from foi_mailbot.sources.imap_progress import STORED_KEYWORD
from foi_mailbot.sources.imap_session import open_client
from foi_mailbot.sources.tokens import CommandTokenProvider, FileTokenProvider
from tests.servers.dovecot import Dovecot

FIXTURES = Path(__file__).parent.parent / "fixtures" / "sources"
REQUEST = (FIXTURES / "foi_request_plain.eml").read_bytes()
FOLLOWUP = (FIXTURES / "foi_request_followup.eml").read_bytes()
STAFF_REPLY = (FIXTURES / "staff_reply_sent.eml").read_bytes()
WAKE_TIMEOUT = 2.0  # Dovecot's IDLE notices new mail 0.5 s after it lands

needs_dovecot = pytest.mark.dovecot


class MemoryCheckpoints:
    """See `CheckpointStore`: a dict, so tests can look inside."""

    def __init__(self) -> None:
        self.saved: dict[tuple[str, str], tuple[int, int]] = {}

    def get(self, mailbox: str, folder: str) -> tuple[int, int] | None:
        return self.saved.get((mailbox, folder))

    def set(self, mailbox: str, folder: str, uidvalidity: int, last_uid: int) -> None:
        self.saved[(mailbox, folder)] = (uidvalidity, last_uid)


@pytest.fixture
def checkpoints() -> MemoryCheckpoints:
    """An empty checkpoint store."""
    return MemoryCheckpoints()


@pytest.fixture
def make_source(checkpoints: MemoryCheckpoints) -> Iterator[Callable[..., ImapSource]]:
    """Build ImapSources for a server; all closed afterwards."""
    made: list[ImapSource] = []

    def make(server: Dovecot, **overrides: object) -> ImapSource:
        source = ImapSource(server.mailbox_settings(**overrides), checkpoints)
        made.append(source)
        return source

    yield make
    for source in made:
        source.close()


def drain(source: ImapSource, *, done: bool = True) -> list[RawMail]:
    """Fetch everything new, marking each message done as the daemon would after its commit."""
    fetched = []
    for mail in source.fetch_new():
        fetched.append(mail)
        if done:
            source.mark_done(mail)
    return fetched


def message_ids(mails: list[RawMail]) -> list[bytes]:
    """The Message-ID line of each message."""
    return [
        next(line for line in m.raw.splitlines() if line.lower().startswith(b"message-id:"))
        for m in mails
    ]


def wait_in_thread(source: ImapSource, timeout: float, stop: threading.Event) -> threading.Thread:
    """Run `source.wait` in a thread, so the test can act while it blocks."""
    worker = threading.Thread(target=source.wait, args=(timeout, stop), daemon=True)
    worker.start()
    return worker


def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Block until the condition holds, failing after a generous timeout."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        threading.Event().wait(0.01)


@needs_dovecot
def test_appended_mail_is_fetched_with_internaldate_then_moved_to_processed(
    dovecot: Dovecot, make_source: Callable[..., ImapSource], checkpoints: MemoryCheckpoints
) -> None:
    """A delivered message is handed over byte for byte, dated by the server, then moved."""
    delivered_at = datetime(2026, 1, 5, 9, 12, 50, tzinfo=timezone(timedelta(hours=1)))
    dovecot.append("INBOX", REQUEST, msg_time=delivered_at)
    source = make_source(dovecot)

    [mail] = drain(source)

    assert REQUEST == mail.raw
    assert datetime(2026, 1, 5, 8, 12, 50, tzinfo=UTC) == mail.arrived_at
    assert UTC == mail.arrived_at.tzinfo
    assert "inbound" == mail.direction
    assert f"imap:{dovecot.user}@{dovecot.host}/INBOX/{mail.uidvalidity}/1" == mail.source_key
    assert [] == dovecot.list_uids("INBOX")
    assert 1 == len(dovecot.list_uids("FOI.Processed"))  # Dovecot separates levels with "."
    assert (mail.uidvalidity, 1) == checkpoints.get(source.name, "INBOX")


@needs_dovecot
def test_server_without_move_gets_copy_delete_and_expunge(
    dovecot_factory: Callable[..., Dovecot], make_source: Callable[..., ImapSource]
) -> None:
    """Without MOVE the message is copied, marked deleted and expunged by UID."""
    server = dovecot_factory(move=False)
    server.append("INBOX", REQUEST)
    server.append("INBOX", FOLLOWUP)
    source = make_source(server)

    fetched = drain(source)

    assert 2 == len(fetched)
    assert [] == server.list_uids("INBOX")
    assert [1, 2] == server.list_uids("FOI.Processed")


@needs_dovecot
def test_flag_mode_marks_message_stored_and_never_hands_it_over_again(
    dovecot: Dovecot, make_source: Callable[..., ImapSource], checkpoints: MemoryCheckpoints
) -> None:
    """In flag mode the message stays in the inbox, seen and keyworded, and is skipped later."""
    dovecot.append("INBOX", REQUEST)
    source = make_source(dovecot, after_processing="flag")
    drain(source)
    checkpoints.saved.clear()  # even with no checkpoint, the keyword keeps it from coming back

    again = drain(source)

    assert [] == again
    flags = {f.decode().lower() for f in dovecot.flags("INBOX")[1]}
    assert {"\\seen", STORED_KEYWORD.lower()} <= flags


@needs_dovecot
def test_message_not_marked_done_is_handed_over_again(
    dovecot: Dovecot, make_source: Callable[..., ImapSource], checkpoints: MemoryCheckpoints
) -> None:
    """The checkpoint never passes a message whose raw row was not committed."""
    dovecot.append("INBOX", REQUEST)
    dovecot.append("INBOX", FOLLOWUP)
    source = make_source(dovecot, after_processing="flag")
    first, second = drain(source, done=False)
    source.mark_done(second)  # the first one's commit failed
    after_second = checkpoints.get(source.name, "INBOX")

    again = drain(source)

    assert after_second is None
    assert [first.source_key] == [m.source_key for m in again]
    assert (first.uidvalidity, 1) == checkpoints.get(source.name, "INBOX")


@needs_dovecot
def test_done_messages_are_moved_in_batches_and_before_waiting(
    dovecot: Dovecot, make_source: Callable[..., ImapSource], checkpoints: MemoryCheckpoints
) -> None:
    """Moves are batched; a fetch left unfinished still has its done mail moved by wait()."""
    for raw in (REQUEST, FOLLOWUP, STAFF_REPLY):
        dovecot.append("INBOX", raw)
    source = make_source(dovecot, batch_size=2)
    fetching = source.fetch_new()
    for mail in (next(fetching), next(fetching)):
        source.mark_done(mail)  # the second fills a batch of two
    after_batch = dovecot.list_uids("INBOX")
    source.mark_done(next(fetching))
    fetching.close()  # the daemon stopped between messages

    source.wait(0, threading.Event())

    assert [3] == after_batch
    assert [] == dovecot.list_uids("INBOX")
    assert 3 == (checkpoints.get(source.name, "INBOX") or (0, 0))[1]


@needs_dovecot
def test_sent_folder_is_read_as_sent_and_left_in_place(
    dovecot: Dovecot, make_source: Callable[..., ImapSource], checkpoints: MemoryCheckpoints
) -> None:
    """Mail in Sent is handed over with direction "sent", checkpointed, never moved."""
    dovecot.append("Sent", STAFF_REPLY)
    dovecot.append("INBOX", REQUEST)
    source = make_source(dovecot)

    fetched = drain(source)

    assert ["inbound", "sent"] == [m.direction for m in fetched]
    assert [1] == dovecot.list_uids("Sent")
    assert 1 == (checkpoints.get(source.name, "Sent") or (0, 0))[1]
    assert [] == drain(source)


@needs_dovecot
def test_new_uidvalidity_resets_the_checkpoint(
    dovecot: Dovecot, make_source: Callable[..., ImapSource], checkpoints: MemoryCheckpoints
) -> None:
    """A recreated inbox numbers from UID 1 again, and those messages are still fetched."""
    dovecot.create_folder("Requests")
    dovecot.append("Requests", REQUEST)
    dovecot.append("Requests", FOLLOWUP)
    source = make_source(dovecot, inbox_folder="Requests", sent_folder=None)
    old = drain(source)
    new_validity = dovecot.recreate_folder("Requests")
    dovecot.append("Requests", STAFF_REPLY)

    with capture_logs() as logs:
        [mail] = drain(source)

    assert (1, new_validity) == (mail.uid, mail.uidvalidity)
    assert old[0].uidvalidity != new_validity
    assert (new_validity, 1) == checkpoints.get(source.name, "Requests")
    assert "imap.uidvalidity_changed" in [e["event"] for e in logs]


@needs_dovecot
def test_message_appended_during_idle_wakes_wait(
    dovecot: Dovecot, make_source: Callable[..., ImapSource]
) -> None:
    """IDLE returns as soon as the server reports a new message."""
    source = make_source(dovecot)
    drain(source)
    stop = threading.Event()
    worker = wait_in_thread(source, 60, stop)
    until(lambda: source.idling_since is not None)

    dovecot.append("INBOX", REQUEST)
    worker.join(WAKE_TIMEOUT)

    stop.set()
    assert not worker.is_alive()
    assert 1 == len(drain(source))


@needs_dovecot
def test_mail_that_arrived_after_the_last_fetch_ends_wait_at_once(
    dovecot: Dovecot, make_source: Callable[..., ImapSource]
) -> None:
    """A message delivered before IDLE starts is not left waiting for the next one."""
    source = make_source(dovecot)
    drain(source)
    dovecot.append("INBOX", REQUEST)
    stop = threading.Event()

    worker = wait_in_thread(source, 60, stop)
    worker.join(WAKE_TIMEOUT)

    stop.set()
    assert not worker.is_alive()


@needs_dovecot
def test_stop_event_ends_idle_within_a_second_or_so(
    dovecot: Dovecot, make_source: Callable[..., ImapSource]
) -> None:
    """Setting the stop event breaks out of IDLE without waiting for the timeout."""
    source = make_source(dovecot)
    drain(source)
    stop = threading.Event()
    worker = wait_in_thread(source, 600, stop)
    until(lambda: source.idling_since is not None)

    stop.set()
    worker.join(5)

    assert not worker.is_alive()
    assert source.connected


@needs_dovecot
def test_restart_during_idle_loses_nothing(
    dovecot: Dovecot, make_source: Callable[..., ImapSource]
) -> None:
    """The server going away mid-IDLE is logged once; mail delivered meanwhile is fetched."""
    source = make_source(dovecot)
    drain(source)
    stop = threading.Event()

    with capture_logs() as logs:
        worker = wait_in_thread(source, 60, stop)
        until(lambda: source.idling_since is not None)
        dovecot.restart()
        worker.join(10)
        dovecot.append("INBOX", REQUEST)
        fetched = drain(source)

    stop.set()
    assert not worker.is_alive()
    assert [REQUEST] == [m.raw for m in fetched]
    events = [e["event"] for e in logs]
    assert 1 == events.count("imap.connection_lost")
    assert 1 == events.count("imap.reconnected")


@needs_dovecot
def test_server_crash_during_idle_is_noticed_and_recovered(
    dovecot: Dovecot, make_source: Callable[..., ImapSource]
) -> None:
    """A connection that drops without BYE ends IDLE; the next fetch reconnects."""
    source = make_source(dovecot)
    drain(source)
    stop = threading.Event()
    worker = wait_in_thread(source, 60, stop)
    until(lambda: source.idling_since is not None)

    dovecot.kill()
    worker.join(10)
    noticed = not source.connected
    dovecot.start()
    dovecot.append("INBOX", FOLLOWUP)
    fetched = drain(source)

    stop.set()
    assert not worker.is_alive()
    assert noticed
    assert [FOLLOWUP] == [m.raw for m in fetched]


@needs_dovecot
def test_outage_is_retried_with_backoff_until_the_server_returns(
    dovecot: Dovecot, make_source: Callable[..., ImapSource]
) -> None:
    """While the server is down fetches fail as transient; wait() reconnects once it is back."""
    source = make_source(dovecot)
    drain(source)
    dovecot.stop()
    stop = threading.Event()

    with capture_logs() as logs:
        with pytest.raises(TransientError):
            drain(source)
        with pytest.raises(TransientError):
            drain(source)  # too soon: backoff, not another attempt
        dovecot.start()
        dovecot.append("INBOX", FOLLOWUP)
        deadline = time.monotonic() + 10
        while not source.connected and time.monotonic() < deadline:
            source.wait(1.0, stop)
        fetched = drain(source)

    assert [FOLLOWUP] == [m.raw for m in fetched]
    events = [e["event"] for e in logs]
    assert 1 == events.count("imap.connection_lost")
    assert 1 == events.count("imap.reconnected")


@needs_dovecot
@pytest.mark.parametrize(
    ("server_idle", "use_idle"), [(False, True), (True, False)], ids=["not-advertised", "disabled"]
)
def test_polling_is_used_when_idle_is_unavailable_or_disabled(
    dovecot_factory: Callable[..., Dovecot],
    make_source: Callable[..., ImapSource],
    server_idle: bool,
    use_idle: bool,
) -> None:
    """Without IDLE, wait() sleeps one poll interval and the next fetch finds the mail."""
    server = dovecot_factory(idle=server_idle)
    source = make_source(server, poll_interval_seconds=0.2, use_idle=use_idle)
    drain(source)
    server.append("INBOX", REQUEST)
    stop = threading.Event()

    with capture_logs() as logs:
        worker = wait_in_thread(source, 60, stop)
        worker.join(5)

    stop.set()
    assert not worker.is_alive()
    assert [] == [e for e in logs if e["event"].startswith("imap.idle")]
    assert 1 == len(drain(source))


@needs_dovecot
def test_idle_is_renewed_within_one_long_wait(
    dovecot: Dovecot, checkpoints: MemoryCheckpoints
) -> None:
    """A wait longer than idle_renew_seconds re-issues IDLE instead of letting it time out."""
    settings = dovecot.mailbox_settings().model_copy(update={"idle_renew_seconds": 1})
    source = ImapSource(settings, checkpoints)
    drain(source)

    with capture_logs() as logs:
        source.wait(2.5, threading.Event())

    assert "imap.idle_renewed" in [e["event"] for e in logs]
    assert source.connected
    source.close()


@needs_dovecot
def test_append_stores_a_copy_and_has_message_id_finds_it(
    dovecot: Dovecot, make_source: Callable[..., ImapSource]
) -> None:
    """append() files a copy (creating the folder); has_message_id() searches by header."""
    source = make_source(dovecot)

    before = source.sent.has_message_id("Sent", "<staff-reply-0107@example.gov.uk>")
    source.sent.append("Sent", STAFF_REPLY)

    assert before is False
    assert source.sent.has_message_id("Sent", "<staff-reply-0107@example.gov.uk>")
    assert not source.sent.has_message_id("Sent", "<never-sent@example.gov.uk>")
    assert [True] == [b"\\Seen" in flags for flags in dovecot.flags("Sent").values()]


@needs_dovecot
def test_append_many_files_every_copy_in_one_go(
    dovecot: Dovecot, make_source: Callable[..., ImapSource]
) -> None:
    """Several copies at once (MULTIAPPEND on Dovecot): all of them filed, each seen."""
    source = make_source(dovecot)
    copies = [STAFF_REPLY.replace(b"staff-reply-0107@", f"copy-{n}@".encode()) for n in range(3)]

    source.sent.append_many("Sent", copies)

    for n in range(3):
        assert source.sent.has_message_id("Sent", f"<copy-{n}@example.gov.uk>")
    assert [True] * 3 == [b"\\Seen" in flags for flags in dovecot.flags("Sent").values()]


@needs_dovecot
def test_imaplib_debug_level_is_zero_after_connect(
    dovecot: Dovecot, make_source: Callable[..., ImapSource]
) -> None:
    """imaplib's debug stays at 0 (level 5 makes fetching 6-7x slower)."""
    source = make_source(dovecot)
    drain(source)

    with open_client(dovecot.mailbox_settings()) as client:
        level = client._imap.debug

    assert 0 == level
    assert 0 == source._client._imap.debug


@needs_dovecot
def test_wrong_password_is_a_transient_error_that_hides_the_password(
    dovecot: Dovecot, checkpoints: MemoryCheckpoints
) -> None:
    """A refused login surfaces as TransientError without the secret in its text."""
    source = ImapSource(dovecot.mailbox_settings(password="hunter2-wrong"), checkpoints)

    with pytest.raises(TransientError) as caught:
        drain(source)

    assert "hunter2-wrong" not in str(caught.value)
    source.close()


@needs_dovecot
def test_xoauth2_login_uses_the_token_file_configured(
    dovecot: Dovecot, checkpoints: MemoryCheckpoints, tmp_path: Path
) -> None:
    """With auth = xoauth2 the token is read from token_file and sent with XOAUTH2."""
    token_file = tmp_path / "access-token"
    token_file.write_text(dovecot.password + "\n")
    settings = dovecot.mailbox_settings(auth="xoauth2", password=None, token_file=token_file)
    dovecot.append("INBOX", REQUEST)
    source = ImapSource(settings, checkpoints)

    fetched = drain(source)
    source.close()

    assert 1 == len(fetched)
    assert "method=XOAUTH2" in dovecot.log_text()


def test_command_token_provider_reads_stdout(tmp_path: Path) -> None:
    """The token is the command's output, stripped."""
    script = tmp_path / "token.sh"
    script.write_text("#!/bin/sh\necho '  ya29.token-value  '\n")
    script.chmod(0o755)

    assert "ya29.token-value" == CommandTokenProvider(str(script)).token()


def test_command_token_provider_failure_is_transient() -> None:
    """A failing command raises TransientError naming only the command and status."""
    with pytest.raises(TransientError, match="status 3"):
        CommandTokenProvider("sh -c 'echo secret-leak >&2; exit 3'").token()


def test_file_token_provider_rereads_the_file_each_time(tmp_path: Path) -> None:
    """A token file refreshed by another service is picked up at the next login."""
    path = tmp_path / "token"
    provider = FileTokenProvider(path)
    path.write_text("first\n")
    first = provider.token()
    path.write_text("second\n")

    assert ("first", "second") == (first, provider.token())
