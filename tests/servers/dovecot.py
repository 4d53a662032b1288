"""A private Dovecot IMAP server on a loopback port, for tests that need a real IMAP server.

Each `Dovecot` runs Debian's `dovecot` binary from a generated configuration in its own temporary
directory (sockets, state, mail and log all inside it), so instances never clash with each other
or with a system Dovecot. Registered as a pytest plugin from the root conftest, it provides the
`dovecot`, `dovecot_factory` and `dovecot_session` fixtures.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pytest
from imapclient import IMAPClient
from pydantic import SecretStr

from foi_mailbot.settings import MailboxSettings

HOST = "127.0.0.1"
USER = "foi@example.gov.uk"
PASSWORD = "correct horse battery"
STARTUP_TIMEOUT = 10.0

# What Dovecot 2.3 advertises after login. Used only when a test asks for a server without some
# capability: `imap_capability` replaces the whole list, so the rest has to be spelled out.
_DEFAULT_CAPABILITIES = (
    "IMAP4rev1", "SASL-IR", "LOGIN-REFERRALS", "ID", "ENABLE", "IDLE", "SORT", "SORT=DISPLAY",
    "THREAD=REFERENCES", "THREAD=REFS", "THREAD=ORDEREDSUBJECT", "MULTIAPPEND", "URL-PARTIAL",
    "CATENATE", "UNSELECT", "CHILDREN", "NAMESPACE", "UIDPLUS", "LIST-EXTENDED", "I18NLEVEL=1",
    "CONDSTORE", "QRESYNC", "ESEARCH", "ESORT", "SEARCHRES", "WITHIN", "CONTEXT=SEARCH",
    "LIST-STATUS", "BINARY", "MOVE", "SNIPPET=FUZZY", "PREVIEW=FUZZY", "PREVIEW", "STATUS=SIZE",
    "SAVEDATE", "LITERAL+", "NOTIFY",
)


def find_binary() -> str | None:
    """The dovecot binary, looked up on PATH and in /usr/sbin (not on PATH for non-root users)."""
    found = shutil.which("dovecot")
    if found:
        return found
    fallback = Path("/usr/sbin/dovecot")
    return str(fallback) if fallback.is_file() else None


def require_binary() -> str:
    """The dovecot binary; skips the test when it is missing, except in CI where that fails."""
    binary = find_binary()
    if binary is None:
        hint = "dovecot is not installed (run scripts/install-system-packages)"
        if os.environ.get("CI"):
            pytest.fail(hint)
        pytest.skip(hint)
    return binary


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class _Identity:
    """Which accounts Dovecot's processes and the mail files run as."""

    internal_user: str
    internal_group: str
    login_user: str
    mail_uid: int
    mail_gid: int


def _identity() -> _Identity:
    """The accounts to use for the user running the tests.

    Dovecot never touches mail as root, so as root the mail belongs to the `dovecot` account
    that Debian's package creates. An unprivileged user runs every process as itself.
    """
    if os.geteuid() == 0:
        internal = pwd.getpwnam("dovecot")
        return _Identity("dovecot", "dovecot", "dovenull", internal.pw_uid, internal.pw_gid)
    me = pwd.getpwuid(os.geteuid())
    group = grp.getgrgid(os.getegid()).gr_name
    return _Identity(me.pw_name, group, me.pw_name, me.pw_uid, os.getegid())


class Dovecot:
    """One private Dovecot instance: `start()`, `stop()`, `restart()`, or use it with `with`."""

    def __init__(
        self,
        *,
        binary: str | None = None,
        user: str = USER,
        password: str = PASSWORD,
        idle: bool = True,
        move: bool = True,
        startup_timeout: float = STARTUP_TIMEOUT,
        oauth2_introspection_url: str | None = None,
        sent_folder: str | None = None,
    ) -> None:
        self.binary = binary or find_binary() or "dovecot"
        self.user = user
        self.password = password
        self.idle = idle
        self.move = move
        # XOAUTH2 tokens are then checked with the identity provider, not taken as passwords.
        self.oauth2_introspection_url = oauth2_introspection_url
        # A Sent folder under another name, flagged \Sent (SPECIAL-USE), as Exchange has.
        self.sent_folder = sent_folder
        self.host = HOST
        self.port = free_port()
        self.startup_timeout = startup_timeout
        self.root = Path(tempfile.mkdtemp(prefix="foi-dovecot-"))
        self.log_path = self.root / "dovecot.log"
        self.config_path = self.root / "dovecot.conf"
        self._process: subprocess.Popen[bytes] | None = None
        self._write_config()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        """Start Dovecot and return once it greets on its port."""
        if self._process is not None:
            return self
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [self.binary, "-F", "-c", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_for_greeting()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Shut Dovecot down cleanly: connected clients get BYE, then the connection closes."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        # The master is gone; make sure no imap or login child outlives it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)

    def kill(self) -> None:
        """Kill Dovecot outright, as a crash would: clients see the connection drop, no BYE."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def restart(self) -> None:
        """Stop and start again on the same port, keeping the mail."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Kill Dovecot and remove the temporary directory; safe to call twice."""
        self.kill()  # a clean shutdown takes a second, and nothing here outlives the test
        shutil.rmtree(self.root, ignore_errors=True)

    @property
    def running(self) -> bool:
        """True while the master process is alive."""
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- helpers for tests -----------------------------------------------------------------

    def mailbox_settings(self, **overrides: Any) -> MailboxSettings:
        """MailboxSettings pointing at this server over plain loopback IMAP."""
        values: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "username": self.user,
            "password": SecretStr(self.password),
            "security": "none",
            "timeout_seconds": 10.0,
        }
        values.update(overrides)
        return MailboxSettings(**values)

    @contextlib.contextmanager
    def client(self) -> Iterator[IMAPClient]:
        """A logged-in IMAPClient, logged out on exit."""
        with IMAPClient(self.host, port=self.port, ssl=False, timeout=10) as imap:
            imap.login(self.user, self.password)
            yield imap

    def append(
        self,
        folder: str,
        raw: bytes,
        *,
        flags: Sequence[str] = (),
        msg_time: datetime | None = None,
    ) -> int:
        """Deliver a message into a folder (created if missing); returns its UID."""
        with self.client() as imap:
            if not imap.folder_exists(folder):
                imap.create_folder(folder)
            imap.append(folder, raw, flags=tuple(flags), msg_time=msg_time)
            imap.select_folder(folder, readonly=True)
            return max(int(uid) for uid in imap.search(["ALL"]))

    def create_folder(self, folder: str) -> None:
        """Create a folder if it does not exist yet."""
        with self.client() as imap:
            if not imap.folder_exists(folder):
                imap.create_folder(folder)

    def recreate_folder(self, folder: str) -> int:
        """Give a folder a new UIDVALIDITY and no messages; returns the new UIDVALIDITY.

        Other folders are deleted and created again, so their UIDs start from 1. INBOX cannot
        be deleted, so it is emptied and its UIDVALIDITY raised with doveadm.
        """
        if folder.upper() == "INBOX":
            return self._renumber_inbox()
        with self.client() as imap:
            if imap.folder_exists(folder):
                imap.delete_folder(folder)
            imap.create_folder(folder)
            status = imap.folder_status(folder, ["UIDVALIDITY"])
            return int(status[b"UIDVALIDITY"])

    def list_uids(self, folder: str) -> list[int]:
        """UIDs of every message in a folder, ascending ([] when the folder does not exist)."""
        with self.client() as imap:
            if not imap.folder_exists(folder):
                return []
            imap.select_folder(folder, readonly=True)
            return sorted(imap.search(["ALL"]))

    def flags(self, folder: str) -> dict[int, tuple[bytes, ...]]:
        """Flags of every message in a folder, by UID."""
        with self.client() as imap:
            imap.select_folder(folder, readonly=True)
            fetched = imap.fetch(imap.search(["ALL"]), ["FLAGS"])
            return {uid: tuple(data[b"FLAGS"]) for uid, data in fetched.items()}

    def log_text(self) -> str:
        """Everything Dovecot has logged so far."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    # -- internals -------------------------------------------------------------------------

    def _renumber_inbox(self) -> int:
        with self.client() as imap:
            old = int(imap.folder_status("INBOX", ["UIDVALIDITY"])[b"UIDVALIDITY"])
        self._doveadm("expunge", "-u", self.user, "mailbox", "INBOX", "all")
        self._doveadm("mailbox", "update", "-u", self.user, "--uid-validity", str(old + 1), "INBOX")
        return old + 1

    def _doveadm(self, *args: str) -> None:
        doveadm = shutil.which("doveadm") or "/usr/bin/doveadm"
        subprocess.run(
            [doveadm, "-c", str(self.config_path), *args],
            check=True,
            capture_output=True,
            timeout=30,
        )

    def _capability_line(self) -> str:
        if self.idle and self.move:
            return ""
        dropped = {name for name, keep in (("IDLE", self.idle), ("MOVE", self.move)) if not keep}
        kept = [cap for cap in _DEFAULT_CAPABILITIES if cap not in dropped]
        return f"imap_capability = {' '.join(kept)}\n"

    def _write_config(self) -> None:
        who = _identity()
        # The login and auth processes run as other users and must reach the sockets in here.
        self.root.chmod(0o755)
        for name in ("run", "state"):
            (self.root / name).mkdir()
        mail = self.root / "mail"
        mail.mkdir()
        os.chown(mail, who.mail_uid, who.mail_gid)
        passwd = self.root / "passwd"
        # user:password:uid:gid:gecos:home:shell:extra; empty uid/gid fall back to mail_uid/gid.
        entry = f"{self.user}:{{PLAIN}}{self.password}::::{mail}/{self.user}::\n"
        passwd.write_text(entry, encoding="utf-8")
        passwd.chmod(0o644)
        unprivileged = os.geteuid() != 0
        chroot = "  chroot =\n" if unprivileged else ""
        self.config_path.write_text(
            f"""# Generated for one test run; see tests/servers/dovecot.py.
base_dir = {self.root}/run
state_dir = {self.root}/state
instance_name = foi-test-{self.port}
log_path = {self.log_path}
listen = {self.host}
protocols = imap
ssl = no
disable_plaintext_auth = no
# Dovecot checks an XOAUTH2 token against the passdb like a password, so the test password
# doubles as a valid access token.
auth_mechanisms = plain login xoauth2 oauthbearer
default_internal_user = {who.internal_user}
default_internal_group = {who.internal_group}
default_login_user = {who.login_user}
mail_uid = {who.mail_uid}
mail_gid = {who.mail_gid}
first_valid_uid = {min(who.mail_uid, 500) or 1}
mail_location = maildir:{mail}/%u
auth_failure_delay = 0
imap_idle_notify_interval = 2 secs
mailbox_idle_check_interval = 1 secs
{self._capability_line()}{self._oauth2_passdb()}passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {passwd}
{self._password_mechanisms()}}}
{self._special_use()}
userdb {{
  driver = passwd-file
  args = username_format=%u {passwd}
}}
service imap-login {{
  inet_listener imap {{
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
{chroot}}}
service anvil {{
{chroot}}}
""",
            encoding="utf-8",
        )

    def _oauth2_passdb(self) -> str:
        if self.oauth2_introspection_url is None:
            return ""
        conf = self.root / "dovecot-oauth2.conf.ext"
        conf.write_text(
            "introspection_mode = post\n"
            f"introspection_url = {self.oauth2_introspection_url}\n"
            "force_introspection = yes\n"
            "username_attribute = username\n"
            "active_attribute = active\n"
            "active_value = true\n",
            encoding="utf-8",
        )
        conf.chmod(0o644)
        return f"passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = {conf}\n}}\n"

    def _password_mechanisms(self) -> str:
        return "  mechanisms = plain login\n" if self.oauth2_introspection_url else ""

    def _special_use(self) -> str:
        if self.sent_folder is None:
            return ""
        return (f'namespace inbox {{\n  inbox = yes\n  mailbox "{self.sent_folder}" {{\n'
                "    special_use = \\Sent\n  }\n}\n")

    def _wait_for_greeting(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                msg = f"dovecot exited with status {self._process.returncode}; see {self.log_path}"
                raise RuntimeError(msg + "\n" + self.log_text()[-2000:])
            if self._greets():
                return
            time.sleep(0.05)
        msg = (
            f"dovecot did not greet on {self.host}:{self.port} within {self.startup_timeout} s; "
            f"see the log at {self.log_path}"
        )
        raise TimeoutError(msg)

    def _greets(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1.0) as conn:
                greeted = conn.recv(256).startswith(b"* OK")
                conn.sendall(b"a LOGOUT\r\n")
                return greeted
        except OSError:
            return False


@pytest.fixture
def dovecot_factory() -> Iterator[Callable[..., Dovecot]]:
    """Start Dovecot instances with chosen options (e.g. `idle=False`); all stopped afterwards."""
    binary = require_binary()
    started: list[Dovecot] = []

    def start(**options: Any) -> Dovecot:
        server = Dovecot(binary=binary, **options)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.close()


@pytest.fixture
def dovecot(dovecot_factory: Callable[..., Dovecot]) -> Dovecot:
    """A fresh, running Dovecot with IDLE and MOVE, for one test."""
    return dovecot_factory()


@pytest.fixture(scope="session")
def dovecot_session() -> Iterator[Dovecot]:
    """One Dovecot shared by a whole run, for tests that only read or use their own folders."""
    with Dovecot(binary=require_binary()) as server:
        yield server
