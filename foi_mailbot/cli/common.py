"""Shared pieces of the command line: the app, the --config option, help and error handling.

Every command module imports only typer and this module when the program starts; the
application (database, mail, templates) is imported inside the command that needs it, so
`--help` and `deadline` start about as fast as typer itself.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer
from typer.core import TyperArgument, TyperCommand

from foi_mailbot.errors import FoiMailbotError

if TYPE_CHECKING:
    from typer._click import Context, HelpFormatter

    from foi_mailbot.settings import Settings

T = TypeVar("T")


class Command(TyperCommand):
    """Help that names arguments by a plain label (`FILE...`), not by their Python type."""

    def format_options(self, ctx: Context, formatter: HelpFormatter) -> None:
        """An Arguments section of labels and help, then the options as typer writes them."""
        rows = [(_label(p), p.help or "") for p in self.get_params(ctx)
                if isinstance(p, TyperArgument) and not p.hidden]
        if rows:
            with formatter.section("Arguments"):
                formatter.write_dl(rows)
        options = [p.get_help_record(ctx) for p in self.get_params(ctx)
                   if p.param_type_name == "option"]
        with formatter.section("Options"):
            formatter.write_dl([record for record in options if record is not None])

    def collect_usage_pieces(self, ctx: Context) -> list[str]:
        """`[OPTIONS] FILE...` rather than typer's `{files}...`."""
        pieces = [self.options_metavar] if self.options_metavar else []
        return pieces + [_label(p) for p in self.get_params(ctx) if isinstance(p, TyperArgument)]


def _label(param: TyperArgument) -> str:
    name = param.metavar or (param.name or "").upper()
    return f"{name}..." if param.nargs != 1 else name


app = typer.Typer(
    help="foi-mailbot: runs a public authority's Freedom of Information mailbox unattended.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
cases_app = typer.Typer(help="Look at the case register.", no_args_is_help=True,
                        rich_markup_mode=None)
db_app = typer.Typer(help="Manage the database.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(cases_app, name="cases")
app.add_typer(db_app, name="db")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", metavar="FILE",
                 help="TOML configuration file (else $FOI_MAILBOT_CONFIG)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
# The --config given before the command's name; set afresh by every invocation.
_given_first: dict[str, Path | None] = {"config": None}


@app.callback()
def main(config: ConfigOption = None) -> None:
    """foi-mailbot: runs a public authority's Freedom of Information mailbox unattended."""
    _given_first["config"] = config


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


def config_path(config: Path | None) -> Path | None:
    """The configuration file named after the command, else before it (else None)."""
    return config if config is not None else _given_first["config"]


def settings_from(config: Path | None) -> Settings:
    """Load settings (from --config before or after the command) or exit 2 with the reason."""
    from foi_mailbot.settings import load_settings

    with friendly_errors():
        return load_settings(config_path(config))
    raise AssertionError  # pragma: no cover - fail() never returns


def guarded(func: Callable[[], T]) -> T:
    """Run `func`, converting our errors to exit code 2."""
    with friendly_errors():
        return func()
    raise AssertionError  # pragma: no cover


def stdout_is_terminal() -> bool:
    """True when printing to a person rather than a pipe."""
    return sys.stdout.isatty()


def plural(count: int, word: str, words: str | None = None) -> str:
    """`1 message`, `2 messages`; `words` for an irregular plural (`1 reply`, `2 replies`)."""
    return f"{count} {word if count == 1 else (words or word + 's')}"
