"""The command line (typer): parse arguments, call the application, print the result."""

from foi_mailbot.cli import (  # noqa: F401 - commands
    cases,
    corrections,
    daemon_cmds,
    going_live,
    mail,
    ops,
    register_cmd,
    replies,
    schedule,
    triage_cmds,
)
from foi_mailbot.cli.common import app

__all__ = ["app"]
