"""Run `foi-mailbot run` as a real process for crash and fault tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.servers.dovecot import Dovecot
from tests.servers.smtp_sink import SmtpSink


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(
    path: Path, *, db: str, dovecot: Dovecot, sink: SmtpSink, data_dir: Path, **extra: Any
) -> Path:
    """A TOML configuration for a daemon on these servers."""
    sections: dict[str, dict[str, Any]] = {
        "organisation": {"reference_secret": "test-secret", "mailbox_address":
                         "foi@example.gov.uk", "staff_domains": ["example.gov.uk"]},
        "paths": {"data_dir": str(data_dir)},
        "database": {"url": db},
        "mailbox": {"host": dovecot.host, "port": dovecot.port, "username": dovecot.user,
                    "password": dovecot.password, "security": "none",
                    "poll_interval_seconds": 1.0, "timeout_seconds": 5.0, "start": "all"},
        "smtp": {"host": sink.host, "port": sink.port, "security": "none",
                 "timeout_seconds": 5.0},
        "health": {"port": 0},
    }
    for name, values in extra.items():
        sections.setdefault(name, {}).update(values)
    lines: list[str] = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


class DaemonProcess:
    """`foi-mailbot run --config FILE` in its own process group."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the daemon."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "foi_mailbot", "run", "--config", str(self.config)],
                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            )

    def kill9(self) -> None:
        """SIGKILL, as a power cut or the OOM killer would."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        self.proc = None
        return code

    def alive(self) -> bool:
        """True while running."""
        return self.proc is not None and self.proc.poll() is None


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    """Poll `predicate` until true; TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    msg = f"timed out after {timeout}s waiting for {what}"
    raise TimeoutError(msg)
