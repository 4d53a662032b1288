"""Outbound stage, last step: hand one composed message to the world.

SMTP logs in with a password or with an OAuth2 token (`smtp.auth = "xoauth2"`).

The outbox's send step calls `Transport.send` for each due row and decides what to do from the
exception class alone: `TransientError` is retried with backoff, `PermanentError` is flagged
for a person. Each transport translates its own library errors into those two, by SMTP reply
code class where there is one (4xx may pass, 5xx will not), and declares which other
exceptions it treats as passing.
"""

from __future__ import annotations

import hashlib
import os
import re
import smtplib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email import policy
from email.parser import BytesHeaderParser
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path
from typing import ClassVar, Protocol

from foi_mailbot.clock import as_utc
from foi_mailbot.errors import ConfigError, FoiMailbotError, PermanentError, TransientError
from foi_mailbot.parsing.headers import normalise_message_id
from foi_mailbot.settings import Settings, SmtpSettings
from foi_mailbot.sources.tokens import TokenProvider

_ADDRESS = re.compile(r"[^\s<>@]+@[^\s<>@]+")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._@+=-]")


Accepted = Callable[[], None]
"""Told that the server (or folder) has taken the message."""


class Transport(Protocol):
    """Delivers one message, raising `TransientError` or `PermanentError` when it cannot."""

    def send(self, raw: bytes, on_accepted: Accepted | None = None) -> None:
        """Deliver the message `raw` (as the outbox holds it) to everyone in its To and Cc.

        Every transport calls `on_accepted` (when given) the moment the message is taken,
        before any goodbye to the server: the outbox records the send there, where a kill would
        do the least harm.
        """
        ...


@dataclass(frozen=True)
class Envelope:
    """What a transport reads from a message's header block: who, and which message."""

    sender: str | None
    recipients: tuple[str, ...]
    message_id: str | None
    date: str | None
    blind_copies: bool


def _text(value: str) -> str:
    # Header bytes are read as ASCII with surrogates; an internationalised address is UTF-8.
    return value.encode("ascii", "surrogateescape").decode("utf-8", "replace")


def read_envelope(raw: bytes) -> Envelope:
    """The envelope of a whole message, from its header block alone (the body is not parsed)."""
    headers = BytesHeaderParser(policy=policy.compat32).parsebytes(raw)

    def addresses(*names: str) -> tuple[str, ...]:
        values = [_text(str(v)) for name in names for v in headers.get_all(name, [])]
        return tuple(email for _name, email in getaddresses(values) if email)

    senders = addresses("From")
    return Envelope(
        sender=senders[0] if senders else None,
        recipients=tuple(dict.fromkeys(addresses("To", "Cc"))),
        message_id=headers.get("Message-ID"),
        date=headers.get("Date"),
        blind_copies="Bcc" in headers,
    )


def _redact(reply: bytes | str) -> str:
    # Servers echo addresses in their replies; errors are logged, and addresses are personal data.
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return _ADDRESS.sub("<address>", " ".join(text.split()))[:300]


def _by_code(code: int, what: str, reply: bytes | str) -> FoiMailbotError:
    msg = f"{what}: {code} {_redact(reply)}"
    return PermanentError(msg) if 500 <= code <= 599 else TransientError(msg)


def _refused(refused: Mapping[str, tuple[int, bytes]], total: int) -> FoiMailbotError:
    replies = "; ".join(f"{code} {_redact(reply)}" for code, reply in refused.values())
    if len(refused) < total:
        # Some copies went out: a retry would send them twice, so a person decides.
        msg = f"the server refused {len(refused)} of {total} recipients: {replies}"
        return PermanentError(msg)
    msg = f"the server refused every recipient: {replies}"
    if any(500 <= code <= 599 for code, _ in refused.values()):
        return PermanentError(msg)
    return TransientError(msg)


class SmtpTransport:
    """See `Transport`: submits over SMTP, one connection per message.

    A connection per message keeps failure handling simple (no half-dead connection to detect)
    and costs nothing at the volume an information-requests mailbox sends.
    """

    transient_exceptions: ClassVar[tuple[type[Exception], ...]] = (
        smtplib.SMTPServerDisconnected,
        OSError,  # refused, reset, unreachable, DNS failure, timeout, TLS handshake
    )

    def __init__(self, settings: SmtpSettings, tokens: TokenProvider | None = None) -> None:
        if not settings.host:
            msg = "smtp.host must be set to send mail over SMTP"
            raise ConfigError(msg)
        if settings.auth == "xoauth2" and tokens is None:
            tokens = _own_tokens(settings)
        self.settings = settings
        self.tokens = tokens
        self.host = settings.host
        self.port = settings.resolved_port()
        self._context: ssl.SSLContext | None = None

    def _tls(self) -> ssl.SSLContext:
        # Loading the CA store costs tens of milliseconds: do it once, and only for TLS.
        if self._context is None:
            self._context = ssl.create_default_context()
        return self._context

    def _connect(self) -> smtplib.SMTP:
        timeout = self.settings.timeout_seconds
        if self.settings.security == "ssl":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=timeout, context=self._tls())
        client = smtplib.SMTP(self.host, self.port, timeout=timeout)
        try:
            if self.settings.security == "starttls":
                client.starttls(context=self._tls())
            return client
        except BaseException:
            client.close()
            raise

    def _login(self, client: smtplib.SMTP) -> None:
        if self.settings.auth == "xoauth2" and self.tokens is not None:
            user = self.settings.username or self.settings.from_address or ""
            try:
                xoauth2_login(client, user, self.tokens.token())
            except smtplib.SMTPAuthenticationError:
                # Revoked or expired early: fetch once more; a second refusal is an outage
                # of the login, not a fault of this message, so it is retried later.
                self.tokens.invalidate()
                try:
                    xoauth2_login(client, user, self.tokens.token())
                except smtplib.SMTPAuthenticationError as exc:
                    msg = (f"the SMTP server refused the OAuth2 login: {exc.smtp_code} "
                           f"{_redact(exc.smtp_error)}")
                    raise TransientError(msg) from exc
            return
        if self.settings.username:
            password = self.settings.password.get_secret_value() if self.settings.password else ""
            client.login(self.settings.username, password)

    def open_session(self) -> smtplib.SMTP:
        """A connected, logged-in client (for `check-config --connect`); the caller closes it."""
        client = self._connect()
        try:
            self._login(client)
        except BaseException:
            client.close()
            raise
        return client

    def _submit(self, raw: bytes, on_accepted: Accepted | None) -> dict[str, tuple[int, bytes]]:
        envelope = read_envelope(raw)
        if envelope.blind_copies:
            # Sent as it is held, a Bcc header would show every recipient to every other one.
            msg = "a message with a Bcc header cannot be sent as it is stored"
            raise PermanentError(msg)
        sender = self.settings.from_address or envelope.sender or ""
        everyone = (sender, *envelope.recipients)
        options = () if all(address.isascii() for address in everyone) else ("SMTPUTF8",)
        client = self._connect()
        try:
            self._login(client)
            refused = client.sendmail(sender, list(envelope.recipients), raw, options)
            if on_accepted is not None and not refused:
                on_accepted()  # before QUIT: its round trip is not spent in the window
        except BaseException:
            client.close()
            raise
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            # The message was accepted; a failed goodbye must not make the outbox send it again.
            client.close()
        return refused

    def send(self, raw: bytes, on_accepted: Accepted | None = None) -> None:
        """See `Transport.send`."""
        try:
            refused = self._submit(raw, on_accepted)
        except smtplib.SMTPRecipientsRefused as exc:
            raise _refused(exc.recipients, len(exc.recipients)) from exc
        except smtplib.SMTPSenderRefused as exc:
            raise _by_code(exc.smtp_code, "the server refused the sender", exc.smtp_error) from exc
        except smtplib.SMTPResponseException as exc:
            raise _by_code(exc.smtp_code, "the server refused the message", exc.smtp_error) from exc
        except smtplib.SMTPNotSupportedError as exc:
            error = f"the server lacks a feature this message needs: {exc}"
            raise PermanentError(error) from exc
        except self.transient_exceptions as exc:
            reason = f"{type(exc).__name__} {_redact(str(exc))}"
            error = f"the SMTP connection to {self.host}:{self.port} failed: {reason}"
            raise TransientError(error) from exc
        except (smtplib.SMTPException, ValueError) as exc:
            error = f"the message cannot be sent: {type(exc).__name__} {_redact(str(exc))}"
            raise PermanentError(error) from exc
        if refused:
            total = len(refused) + 1  # sendmail returns normally only if one was accepted
            raise _refused(refused, total)


def xoauth2_login(client: smtplib.SMTP, user: str, token: str) -> None:
    """SMTP AUTH XOAUTH2 (the token in the first response; a 334 error is answered empty)."""
    text = f"user={user}\x01auth=Bearer {token}\x01\x01"

    def respond(challenge: bytes | None = None) -> str:
        # A 334 challenge here carries the server's error as JSON; an empty reply ends the
        # exchange and the server answers 535.
        return text if challenge is None else ""

    client.ehlo_or_helo_if_needed()
    client.auth("XOAUTH2", respond, initial_response_ok=True)


def _own_tokens(settings: SmtpSettings) -> TokenProvider:
    from foi_mailbot.oauth import tokens_for

    return tokens_for(settings, None, "smtp")


def _safe_name(message_id: str) -> str:
    name = _UNSAFE_NAME.sub("_", message_id)[:150]
    if name != message_id:
        # Two ids that differ only in replaced characters must still get different files.
        name += "-" + hashlib.sha256(message_id.encode()).hexdigest()[:12]
    return name


class FolderTransport:
    """See `Transport`: writes each message to `<folder>/<timestamp>-<message-id>.eml`.

    The embedded default when no SMTP server is configured, and a safe target for trials. Files
    are written atomically (temporary name, fsync, rename). The name comes from the message's
    own Date and Message-ID, so a retried send of the same message finds its file and does not
    write a second copy.
    """

    transient_exceptions: ClassVar[tuple[type[Exception], ...]] = (OSError,)

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path_for(self, raw: bytes) -> Path:
        """Where the message `raw` is (or would be) written."""
        envelope = read_envelope(raw)
        message_id = normalise_message_id(envelope.message_id)
        if message_id is None:
            error = "a message without a Message-ID cannot be written to the outgoing folder"
            raise PermanentError(error)
        try:
            stamp = as_utc(parsedate_to_datetime(str(envelope.date))).strftime("%Y%m%dT%H%M%SZ")
        except (TypeError, ValueError):
            stamp = "00000000T000000Z"
        return self.folder / f"{stamp}-{_safe_name(message_id)}.eml"

    def send(self, raw: bytes, on_accepted: Accepted | None = None) -> None:
        """See `Transport.send`."""
        target = self.path_for(raw)
        if not target.exists():
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                _write_atomically(target, raw)
            except self.transient_exceptions as exc:
                reason = getattr(exc, "strerror", None) or type(exc).__name__
                error = f"cannot write to {self.folder}: {reason}"
                raise TransientError(error) from exc
        if on_accepted is not None:
            on_accepted()


def _write_atomically(target: Path, data: bytes) -> None:
    temporary = target.with_name(f".{target.name}.tmp")
    try:
        with temporary.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def make_transport(settings: Settings, tokens: TokenProvider | None = None) -> Transport:
    """SMTP when `smtp.host` is set, else files in the outgoing folder; `tokens` for XOAUTH2."""
    if settings.smtp.host:
        return SmtpTransport(settings.smtp, tokens)
    return FolderTransport(settings.paths.outgoing())
