"""`check-config --connect`: log in to the mailbox and the SMTP server with the real settings.

One line per finding, each `ok`, `warning` or `wrong`: sign-in (OAuth2), mailbox login, the
inbox, Sent and processed folders, IDLE, SMTP login, the From address. Nothing is sent or moved
unless asked: `--create-folders` creates a missing processed folder, and `--send-test ADDRESS`
sends one message, then looks whether the server filed its own copy in Sent. Failures known from
Microsoft 365 and Google Workspace are followed by what to do.
"""

from __future__ import annotations

import contextlib
import smtplib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from foi_mailbot.clock import SystemClock
from foi_mailbot.errors import ConfigError, FoiMailbotError
from foi_mailbot.oauth import CachedTokens, shared_tokens, tokens_for
from foi_mailbot.oauth.advice import advice
from foi_mailbot.settings import Settings
from foi_mailbot.sources.special_use import find_sent_folder
from foi_mailbot.sources.tokens import TokenProvider

Level = Literal["ok", "warning", "wrong"]
SENT_WAIT_SECONDS = 20.0


@dataclass(frozen=True)
class Finding:
    """One line of the report."""

    level: Level
    topic: str
    text: str

    def line(self) -> str:
        """As printed: `ok: mailbox login: ...`."""
        return f"{self.level}: {self.topic}: {self.text}"


@dataclass
class _Run:
    settings: Settings
    findings: list[Finding]
    shared: CachedTokens | None = None
    sent_name: str | None = None

    def add(self, level: Level, topic: str, text: str, *, known: str | None = None) -> None:
        self.findings.append(Finding(level, topic, text + (f" -> {known}" if known else "")))

    def advice(self, text: str, *, imap_login: bool = False) -> str | None:
        return advice(text, self.settings.oauth.provider, imap_login=imap_login)


def sign_in_problems(settings: Settings) -> list[str]:
    """What makes the OAuth2 settings unusable, without contacting anyone (plain check-config)."""
    from foi_mailbot.oauth.providers import uses_xoauth2

    if not uses_xoauth2(settings):
        return []
    try:
        shared = shared_tokens(settings, SystemClock())
        if settings.mailbox.uses_imap() and settings.mailbox.auth == "xoauth2":
            tokens_for(settings.mailbox, shared, "mailbox")
        if settings.smtp.host and settings.smtp.auth == "xoauth2":
            tokens_for(settings.smtp, shared, "smtp")
    except ConfigError as exc:
        return [str(exc)]
    return []


def check_connections(
    settings: Settings,
    *,
    create_folders: bool = False,
    send_test: str | None = None,
    sent_wait_seconds: float = SENT_WAIT_SECONDS,
) -> list[Finding]:
    """Every finding, in the order a person would fix them."""
    run = _Run(settings, [])
    if not _sign_in(run):
        return run.findings
    if settings.mailbox.uses_imap():
        _mailbox(run, create_folders=create_folders)
    else:
        run.add("ok", "mailbox", "a local Maildir: nothing to log in to")
    if settings.smtp.host:
        _smtp(run)
        if send_test:
            _send_test(run, send_test, sent_wait_seconds)
    else:
        run.add("ok", "smtp", "no smtp.host: outgoing mail is written to files")
    return run.findings


def _sign_in(run: _Run) -> bool:
    """The shared OAuth2 token, when one is configured; False if the settings are unusable."""
    try:
        run.shared = shared_tokens(run.settings, SystemClock())
    except ConfigError as exc:
        run.add("wrong", "sign-in", str(exc))
        return False
    if run.shared is None:
        return True
    try:
        run.shared.token()
    except FoiMailbotError as exc:
        run.add("wrong", "sign-in", str(exc), known=run.advice(str(exc)))
        return True
    run.add("ok", "sign-in", f"a token from {run.shared.name}")
    return True


def _tokens(run: _Run, side: Literal["mailbox", "smtp"]) -> TokenProvider | None:
    section = run.settings.mailbox if side == "mailbox" else run.settings.smtp
    if section.auth != "xoauth2":
        return None
    return tokens_for(section, run.shared, side)


@contextlib.contextmanager
def _imap(run: _Run) -> Iterator[IMAPClient | None]:
    from foi_mailbot.sources.imap_session import open_client

    box = run.settings.mailbox
    where = f"{box.username} at {box.host}:{box.resolved_port()}"
    try:
        client = open_client(box, _tokens(run, "mailbox"))
    except LoginError as exc:
        run.add("wrong", "mailbox login", f"{where} refused: {exc}",
                known=run.advice(str(exc), imap_login=box.auth == "xoauth2"))
        yield None
        return
    except (OSError, IMAPClientError, FoiMailbotError) as exc:
        run.add("wrong", "mailbox login", f"cannot reach {where}: {exc}",
                known=run.advice(str(exc)))
        yield None
        return
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            client.logout()


def _mailbox(run: _Run, *, create_folders: bool) -> None:
    box = run.settings.mailbox
    with _imap(run) as client:
        if client is None:
            return
        how = "XOAUTH2" if box.auth == "xoauth2" else "password"
        run.add("ok", "mailbox login", f"{box.username} at {box.host} ({how})")
        _folders(run, client, create_folders=create_folders)
        if client.has_capability("IDLE"):
            run.add("ok", "IDLE", "supported: new mail is seen at once")
        else:
            run.add("warning", "IDLE", "not offered by the server: the daemon polls every "
                    f"{box.poll_interval_seconds:g} s")


def _server_name(client: IMAPClient, folder: str) -> str:
    """Settings write nested folders with "/"; the server may separate them otherwise."""
    listed = client.list_folders("", "")
    delimiter = listed[0][1] if listed else None
    if isinstance(delimiter, bytes):
        delimiter = delimiter.decode()
    if folder.upper() == "INBOX" or not delimiter or delimiter == "/":
        return folder
    return folder.replace("/", str(delimiter))


def _folders(run: _Run, client: IMAPClient, *, create_folders: bool) -> None:
    box = run.settings.mailbox
    processed = _server_name(client, box.processed_folder)
    if client.folder_exists(box.inbox_folder):
        count = client.folder_status(box.inbox_folder, ["MESSAGES"])[b"MESSAGES"]
        run.add("ok", "inbox", f"'{box.inbox_folder}' ({count} messages)")
    else:
        run.add("wrong", "inbox", f"'{box.inbox_folder}' does not exist: check "
                "mailbox.inbox_folder")
    _sent_folder(run, client)
    if box.after_processing != "move":
        run.add("ok", "processed folder", "not used: messages are flagged, not moved")
    elif client.folder_exists(processed):
        run.add("ok", "processed folder", f"'{box.processed_folder}'")
    elif create_folders:
        client.create_folder(processed)
        run.add("ok", "processed folder", f"'{box.processed_folder}' created")
    else:
        run.add("warning", "processed folder", f"'{box.processed_folder}' does not exist: it "
                "is made at the first move, or now with check-config --connect --create-folders")


def _sent_folder(run: _Run, client: IMAPClient) -> None:
    configured = run.settings.mailbox.sent_folder
    if not configured:
        run.add("warning", "sent folder", "mailbox.sent_folder is empty: staff replies are "
                "not read, and a send cut short cannot be checked against Sent")
        return
    if client.folder_exists(_server_name(client, configured)):
        run.sent_name = _server_name(client, configured)
        run.add("ok", "sent folder", f"'{configured}'")
        return
    found = find_sent_folder(client)
    if found is None:
        run.add("wrong", "sent folder", f"'{configured}' does not exist and no folder is "
                "flagged as Sent: set mailbox.sent_folder to the folder staff replies go to")
        return
    run.sent_name = found
    run.add("warning", "sent folder", f"'{configured}' does not exist; the server flags "
            f"'{found}' as the Sent folder: set mailbox.sent_folder = \"{found}\" (until then "
            "the daemon uses it and says so)")


def _smtp(run: _Run) -> None:
    from foi_mailbot.outbound.transport import SmtpTransport

    smtp = run.settings.smtp
    where = f"{smtp.host}:{smtp.resolved_port()}"
    try:
        client = SmtpTransport(smtp, _tokens(run, "smtp")).open_session()
    except smtplib.SMTPResponseException as exc:
        error = exc.smtp_error
        words = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
        text = f"{exc.smtp_code} {words}"
        run.add("wrong", "smtp login", f"{where} refused: {text}", known=run.advice(text))
        return
    except (OSError, smtplib.SMTPException, FoiMailbotError) as exc:
        run.add("wrong", "smtp login", f"cannot log in at {where}: {exc}",
                known=run.advice(str(exc)))
        return
    try:
        how = "XOAUTH2" if smtp.auth == "xoauth2" else ("password" if smtp.username else "none")
        run.add("ok", "smtp login", f"{where} ({how})")
        sender = smtp.from_address or run.settings.organisation.mailbox_address
        client.ehlo_or_helo_if_needed()
        code, reply = client.mail(sender)
        text = f"{code} {reply.decode('utf-8', 'replace')}"
        if code == 250:
            run.add("ok", "from address", f"{sender} taken for MAIL FROM (Microsoft 365 checks "
                    "Send As only when a message is sent: --send-test ADDRESS tries that)")
        else:
            run.add("wrong", "from address", f"{sender} refused: {text}", known=run.advice(text))
        client.rset()
    finally:
        with contextlib.suppress(Exception):
            client.quit()


def _send_test(run: _Run, address: str, wait_seconds: float) -> None:
    from foi_mailbot.outbound.compose import compose, mint_message_id, wire_bytes
    from foi_mailbot.outbound.transport import SmtpTransport
    from foi_mailbot.parsing.parsed import Address

    settings = run.settings
    sender = settings.smtp.from_address or settings.organisation.mailbox_address
    message_id = mint_message_id(sender.rpartition("@")[2])
    raw = wire_bytes(compose(
        from_addr=sender, from_name=f"{settings.organisation.name} foi-mailbot",
        to=Address(name="", email=address), subject="foi-mailbot test message",
        text="A test from foi-mailbot check-config --send-test. Nothing to do.\n", html=None,
        message_id=message_id, in_reply_to=None, references=(), automatic=True,
        date=SystemClock().now()))
    try:
        SmtpTransport(settings.smtp, _tokens(run, "smtp")).send(raw)
    except FoiMailbotError as exc:
        run.add("wrong", "test message", f"not sent: {exc}", known=run.advice(str(exc)))
        return
    run.add("ok", "test message", f"sent to {address}")
    if run.sent_name is None:
        return
    if _filed_in_sent(run, run.sent_name, message_id, wait_seconds):
        run.add("warning", "copy in Sent", f"the server filed its own copy in "
                f"'{run.sent_name}': set smtp.append_to_sent = false, or each message is "
                "there twice")
    else:
        run.add("ok", "copy in Sent", f"the server filed no copy in '{run.sent_name}' within "
                f"{wait_seconds:g} s: keep smtp.append_to_sent = true")


def _filed_in_sent(run: _Run, folder: str, message_id: str, wait_seconds: float) -> bool:
    deadline = time.monotonic() + wait_seconds
    with _imap(run) as client:
        if client is None:
            return False
        while True:
            client.select_folder(folder, readonly=True)
            if client.search(["HEADER", "Message-ID", message_id]):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(1.0)
