"""A real SMTP server for tests: aiosmtpd on a free loopback port that keeps what it receives.

Outbound tests send through `SmtpTransport` to this sink and read back the envelope and the
message. It can also misbehave on request: refuse the next RCPT or DATA commands with a chosen
reply code (as Mailman's `testing/mta.py` does with `_next_error`), stop listening so
connections are refused and listen again on the same port, and hold back its reply to DATA so
a client's timeout fires.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import socket
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from types import TracebackType
from typing import Any, Literal, NamedTuple

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

Command = Literal["RCPT", "DATA"]


class Delivery(NamedTuple):
    """One message the sink accepted."""

    envelope_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    message: EmailMessage


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing is listening on right now (the Controller needs a number, not 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def _failure_reply(code: int) -> str:
    detail = "try again later" if 400 <= code < 500 else "refused"
    return f"{code} {code // 100}.0.0 Test sink: {detail}"


class SinkHandler:
    """aiosmtpd handler: records deliveries and plays back the failures it was told to."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._deliveries: list[Delivery] = []
        self._failures: dict[Command, list[int]] = {"RCPT": [], "DATA": []}
        self._stall_seconds = 0.0

    def fail_next(self, code: int = 451, times: int = 1, command: Command = "RCPT") -> None:
        """Answer the next `times` RCPT (or DATA) commands with `code` instead of accepting."""
        with self._lock:
            self._failures[command].extend([code] * times)

    def stall(self, seconds: float) -> None:
        """Hold back every reply to DATA this long (0 to stop stalling)."""
        with self._lock:
            self._stall_seconds = seconds

    def _take_failure(self, command: Command) -> str | None:
        with self._lock:
            queue = self._failures[command]
            return _failure_reply(queue.pop(0)) if queue else None

    @property
    def deliveries(self) -> list[Delivery]:
        """A copy of what was received so far, oldest first."""
        with self._lock:
            return list(self._deliveries)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Delivery]:
        """Block until at least `count` deliveries arrived; TimeoutError after `timeout`."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._deliveries) >= count, timeout):
                msg = f"the SMTP sink got {len(self._deliveries)} of {count} messages in {timeout}s"
                raise TimeoutError(msg)
            return list(self._deliveries)

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        """Accept a recipient unless a failure is queued."""
        failure = self._take_failure("RCPT")
        if failure is not None:
            return failure
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        """Record the message unless a failure is queued; stall first if told to."""
        failure = self._take_failure("DATA")
        if failure is not None:
            return failure
        with self._lock:
            stall = self._stall_seconds
        if stall:
            # Cancelled by Controller.stop(), so a stalled test does not hold up teardown.
            await asyncio.sleep(stall)
        raw = bytes(envelope.original_content)
        parsed = message_from_bytes(raw, _class=EmailMessage, policy=policy.default)
        delivery = Delivery(str(envelope.mail_from), tuple(envelope.rcpt_tos), raw, parsed)
        with self._lock:
            self._deliveries.append(delivery)
            self._lock.notify_all()
        return "250 Message accepted for delivery"


class OAuthSinkHandler(SinkHandler):
    """A sink that takes `AUTH XOAUTH2` and checks the token with the identity provider.

    As Exchange Online does, a refused token gets a 334 challenge carrying a JSON error, then
    535 once the client answers it.
    """

    def __init__(self, introspection_url: str) -> None:
        super().__init__()
        self.introspection_url = introspection_url
        self.logins: list[tuple[str, bool]] = []

    def _introspect(self, token: str) -> dict[str, Any]:
        data = urllib.parse.urlencode({"token": token}).encode()
        with urllib.request.urlopen(self.introspection_url, data=data, timeout=10) as reply:  # noqa: S310 - a loopback http URL the test chose
            answer: dict[str, Any] = json.load(reply)
            return answer

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> AuthResult:  # noqa: N802
        """SASL XOAUTH2: `user=<u>^Aauth=Bearer <token>^A^A`, base64, usually in the command."""
        if len(args) > 1:
            try:
                blob = base64.b64decode(args[1], validate=True)
            except binascii.Error:
                return AuthResult(success=False, handled=False)
        else:
            answer = await server.challenge_auth("")
            if not isinstance(answer, bytes):
                return AuthResult(success=False, handled=True)
            blob = answer
        fields = dict(part.split("=", 1) for part in blob.decode().split("\x01") if "=" in part)
        user, token = fields.get("user", ""), fields.get("auth", "").removeprefix("Bearer ")
        checked = await asyncio.get_running_loop().run_in_executor(None, self._introspect, token)
        ok = bool(checked.get("active")) and checked.get("username") == user
        with self._lock:
            self.logins.append((user, ok))
        if ok:
            return AuthResult(success=True, handled=False, auth_data=user)
        error = json.dumps({"status": "401", "schemes": "bearer", "scope": "smtp"})
        await server.challenge_auth(error)
        return AuthResult(success=False, handled=False,
                          message="535 5.7.3 Authentication unsuccessful")


class SmtpSink:
    """An aiosmtpd Controller on 127.0.0.1 and a free port, startable and stoppable at will."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        credentials: tuple[str, str] | None = None,
        ready_timeout: float = 10.0,
        oauth_introspection_url: str | None = None,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.credentials = credentials
        self.ready_timeout = ready_timeout
        self.oauth = oauth_introspection_url is not None
        self.handler = (OAuthSinkHandler(oauth_introspection_url) if oauth_introspection_url
                        else SinkHandler())
        self._controller: Controller | None = None

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if self.credentials is None or not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, password = self.credentials
        ok = auth_data.login == user.encode() and auth_data.password == password.encode()
        return AuthResult(success=ok, handled=False)

    def start(self) -> None:
        """Listen on the port; TimeoutError (saying what to try) if not ready in time."""
        if self._controller is not None:
            return
        extra: dict[str, Any] = {}
        if self.credentials is not None:
            extra = {"authenticator": self._authenticate, "auth_require_tls": False}
        if self.oauth:
            extra = {"auth_require_tls": False, "auth_required": True,
                     "auth_exclude_mechanism": ["LOGIN", "PLAIN"]}
        controller = Controller(
            self.handler,
            hostname=self.host,
            port=self.port,
            ready_timeout=self.ready_timeout,
            # A fixed name: the default asks DNS for our FQDN, which can hang in a sandbox.
            server_hostname="smtp-sink.test",
            **extra,
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        """Stop listening: connections to the port are refused until `start` again."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpSink:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def messages(self) -> list[Delivery]:
        """Everything received so far, oldest first."""
        return self.handler.deliveries

    def fail_next(self, code: int = 451, times: int = 1, command: Command = "RCPT") -> None:
        """See `SinkHandler.fail_next`."""
        self.handler.fail_next(code=code, times=times, command=command)

    def stall(self, seconds: float) -> None:
        """See `SinkHandler.stall`."""
        self.handler.stall(seconds)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Delivery]:
        """See `SinkHandler.wait_for`."""
        return self.handler.wait_for(count, timeout)


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A running SMTP sink on a free loopback port, stopped after the test."""
    with SmtpSink() as sink:
        yield sink
