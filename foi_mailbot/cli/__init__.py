"""The command line (typer): parse arguments, call the application, print the result."""

from foi_mailbot.cli import cases, corrections, daemon_cmds, mail, ops, schedule  # noqa: F401
from foi_mailbot.cli.common import app

__all__ = ["app"]
