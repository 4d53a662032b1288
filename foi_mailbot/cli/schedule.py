"""Commands for the scheduled jobs, run by hand: `digest`, `remind` and `report`.

Each is the same sweep the daemon's scheduler runs (`jobs.*`), so a manual run and a scheduled
one can never both send the same reminder or digest: the outbox keys see to that.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from foi_mailbot.cli.common import ConfigOption, app, fail, friendly_errors, plural, settings_from

if TYPE_CHECKING:
    from foi_mailbot.bootstrap import App


def _build(config: Path | None) -> App:
    from foi_mailbot.bootstrap import build

    settings = settings_from(config)
    with friendly_errors():
        return build(settings)
    raise AssertionError  # pragma: no cover - fail() never returns


def _date(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{option} '{text}' is not a real date in the form YYYY-MM-DD")


@app.command()
def digest(
    preview: Annotated[
        bool, typer.Option("--preview", help="Print the digest; send nothing.")
    ] = False,
    html: Annotated[Path | None, typer.Option(
        "--html", metavar="FILE", help="With --preview: also write the HTML here.")] = None,
    send: Annotated[
        bool, typer.Option("--send", help="Queue this week's digest now and send it.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Preview the weekly digest, or send this week's now.

    Once per week all the same: a digest already sent is not sent again.
    """
    from foi_mailbot.jobs import digest as digest_job
    from foi_mailbot.storage.db import session_scope

    if preview == send:
        fail("choose one of --preview or --send")
    if html is not None and not preview:
        fail("--html goes with --preview")
    app_ = _build(config)
    with friendly_errors():
        now = app_.clock.now()
        if preview:
            with session_scope(app_.factory) as session:
                built = digest_job.build_digest(
                    session, app_.settings, app_.services.calendars, now
                )
            text, page = digest_job.render_digest(app_.services.acks.env, built)
            typer.echo(text, nl=False)
            if html is not None:
                _write(html, page)
            return
        queued = digest_job.send_now(app_.factory, app_.services, now)
        sent = app_.outbox.drain()
    if not queued:
        typer.echo("This week's digest was already queued; nothing new to send.")
        return
    typer.echo(f"Digest queued; {plural(sent, 'message')} sent.")


def _write(path: Path, content: str) -> None:
    try:
        path.write_text(content, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror}")


@app.command()
def remind(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the reminders due now; send nothing.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Send every reminder due now.

    The daemon's scheduler does this by itself every few minutes.
    """
    from foi_mailbot.jobs import reminders
    from foi_mailbot.storage.db import session_scope

    app_ = _build(config)
    with friendly_errors():
        now = app_.clock.now()
        if dry_run:
            with session_scope(app_.factory) as session:
                planned = reminders.plan(session, app_.settings, app_.services.calendars, now)
            for item in planned:
                typer.echo(item.describe())
            typer.echo(f"{plural(len(planned), 'reminder')} due now.")
            return
        queued = reminders.sweep(app_.factory, app_.services, now)
        sent = app_.outbox.drain()
    typer.echo(f"{plural(len(queued), 'reminder')} queued; {plural(sent, 'message')} sent.")


TABLES = ("cases", "compliance")


@app.command()
def report(
    from_: Annotated[str | None, typer.Option(
        "--from", metavar="DATE", help="First day of receipt, YYYY-MM-DD.")] = None,
    to: Annotated[str | None, typer.Option(
        "--to", metavar="DATE", help="Last day of receipt, YYYY-MM-DD.")] = None,
    fy: Annotated[int | None, typer.Option(
        "--fy", metavar="YEAR", help="Financial year by its first year: 2025 = 2025/26.")] = None,
    fmt: Annotated[str, typer.Option(
        "--format", metavar="FORMAT", help="text, csv or json.")] = "text",
    table: Annotated[str, typer.Option(
        "--table", metavar="TABLE",
        help="With --format csv: cases (one row per case) or compliance (per financial year).",
    )] = "cases",
    config: ConfigOption = None,
) -> None:
    """Management information: cases and on-time share by year.

    One row per case, and the on-time share per financial year.
    """
    from foi_mailbot.clock import local_date
    from foi_mailbot.jobs.report import (
        FORMATS,
        build_report,
        cases_csv,
        compliance_csv,
        render,
        resolve_range,
    )
    from foi_mailbot.storage.db import session_scope

    if fmt not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)}, not '{fmt}'")
    if table not in TABLES:
        fail(f"--table must be one of {', '.join(TABLES)}, not '{table}'")
    start, end = _date(from_, "--from"), _date(to, "--to")
    with friendly_errors():
        start, end = resolve_range(fy, start, end)
    app_ = _build(config)
    with friendly_errors():
        today = local_date(app_.clock.now(), app_.settings.organisation.zone)
        with session_scope(app_.factory) as session:
            result = build_report(
                session, app_.services.calendars, start=start, end=end, today=today
            )
    if fmt == "csv":
        typer.echo((cases_csv if table == "cases" else compliance_csv)(result), nl=False)
    else:
        typer.echo(render(result, fmt), nl=False)
