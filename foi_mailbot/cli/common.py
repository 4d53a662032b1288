"""Shared pieces of the command line: the app, the --config option, and error handling."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer

from foi_mailbot.errors import FoiMailbotError
from foi_mailbot.settings import Settings, load_settings

app = typer.Typer(
    help="foi-mailbot: runs a public authority's Freedom of Information mailbox unattended.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
cases_app = typer.Typer(help="Look at the case register.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the database.", no_args_is_help=True)
app.add_typer(cases_app, name="cases")
app.add_typer(db_app, name="db")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML configuration file (else $FOI_MAILBOT_CONFIG)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]

T = TypeVar("T")


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one sentence to stderr and exit with `code`."""
    typer.echo(f"foi-mailbot: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Turn our own errors into one clear sentence and exit code 2, never a traceback."""
    try:
        yield
    except FoiMailbotError as exc:
        fail(str(exc))


def settings_from(config: Path | None) -> Settings:
    """Load settings or exit 2 with the reason."""
    with friendly_errors():
        return load_settings(config)
    raise AssertionError  # pragma: no cover - fail() never returns


def guarded(func: Callable[[], T]) -> T:
    """Run `func`, converting our errors to exit code 2."""
    with friendly_errors():
        return func()
    raise AssertionError  # pragma: no cover


def stdout_is_terminal() -> bool:
    """True when printing to a person rather than a pipe."""
    return sys.stdout.isatty()
