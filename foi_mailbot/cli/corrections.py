"""Commands about corrections: `cases correct` (put a staff message's reading right) and
`corrections export` (every correction, as labelled data)."""

from __future__ import annotations

import getpass
import json
import sys
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Annotated

import typer

from foi_mailbot.cli.common import ConfigOption, JsonOption, app, cases_app, fail, settings_from

corrections_app = typer.Typer(help="Corrections people made: labelled data.",
                              no_args_is_help=True)
app.add_typer(corrections_app, name="corrections")


@cases_app.command("correct")
def cases_correct(
    message: Annotated[int, typer.Argument(help="The message number (as in `triage`).")],
    action: Annotated[str, typer.Option(help="What the staff message does: extend, respond...")],
    outcome: Annotated[
        str | None, typer.Option(help="For respond/close/review_outcome: refused, partly...")
    ] = None,
    by: Annotated[str | None, typer.Option(help="Who corrects (default: the login name).")] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Correct what a staff message was read as doing; stored as labelled data."""
    from foi_mailbot.bootstrap import build
    from foi_mailbot.cases.staff_correction import BadCorrection, check, correct_staff_action
    from foi_mailbot.clock import local_date
    from foi_mailbot.parsing import parse
    from foi_mailbot.storage.db import session_scope
    from foi_mailbot.storage.models import InboundMessage, RawMessage

    try:
        check(action, outcome)
    except BadCorrection as exc:
        fail(str(exc))
    app_ = build(settings_from(config))
    zone = app_.settings.organisation.zone
    try:
        with session_scope(app_.factory) as session:
            row = session.get(InboundMessage, message)
            if row is None:
                fail(f"there is no message {message}")
            raw = session.get(RawMessage, message)
            try:
                done = correct_staff_action(
                    session, app_.services.calendars, row, parse(raw.raw) if raw else None,
                    action=action, outcome=outcome, by=by or _login(), via="cli",
                    now=app_.clock.now(), on=local_date(row.arrived_at, zone),
                )
            except BadCorrection as exc:
                fail(str(exc))
    finally:
        app_.close()
    if as_json:
        typer.echo(json.dumps({"message": message, "case": done.reference,
                               "effect": done.effect}))
    else:
        typer.echo(done.effect)


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@corrections_app.command("export")
def corrections_export(
    format_: Annotated[str, typer.Option("--format", help="jsonl (one object a line).")] = "jsonl",
    since: Annotated[str | None, typer.Option(help="Only those made since YYYY-MM-DD.")] = None,
    output: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
    config: ConfigOption = None,
) -> None:
    """Write every correction: the message, what was decided, what the person said."""
    from foi_mailbot.bootstrap import build
    from foi_mailbot.corrections import export_jsonl
    from foi_mailbot.storage.db import session_scope

    if format_ != "jsonl":
        fail(f"'{format_}' is not a format corrections can be written in; use jsonl")
    start = None
    if since is not None:
        try:
            start = datetime.combine(datetime.fromisoformat(since).date(), time(), tzinfo=UTC)
        except ValueError:
            fail(f"--since '{since}' is not a real date in the form YYYY-MM-DD")
    app_ = build(settings_from(config))
    try:
        with session_scope(app_.factory) as session:
            if output is None:
                count = export_jsonl(session, sys.stdout, since=start)
            else:
                with output.open("w", encoding="utf-8") as out:
                    count = export_jsonl(session, out, since=start)
    finally:
        app_.close()
    if output is not None:
        typer.echo(f"{count} corrections written to {output}")
