"""Operations commands: `status` (is the service well, in words) and `purge` (retention)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from foi_mailbot.cli.common import (
    ConfigOption,
    JsonOption,
    app,
    fail,
    friendly_errors,
    settings_from,
)


@app.command()
def status(as_json: JsonOption = False, config: ConfigOption = None) -> None:
    """Say whether the service is healthy, and why.

    Daemon running, last sync, backlog, needing a person, cases and errors.

    Exits 0 when healthy and 1 when not, so scripts and monitoring can use it. A daemon is
    running when some process holds the register's lock (the one that lets a single instance
    work); with none, the service is not healthy whatever the figures say.
    """
    from foi_mailbot.bootstrap import build
    from foi_mailbot.health import HealthReport, describe, health_report
    from foi_mailbot.leader import instance_running

    settings = settings_from(config)
    with friendly_errors():
        app_ = build(settings, migrate=False)
    try:
        report = health_report(app_.engine, app_.factory, settings, app_.clock.now())
        running = instance_running(app_.engine)
    finally:
        app_.close()
    if not running:
        reasons = ("no foi-mailbot daemon is running on this database", *report.reasons)
        report = HealthReport(False, reasons, report.facts)
    if as_json:
        typer.echo(json.dumps({"ok": report.ok, "reasons": list(report.reasons),
                               "facts": report.facts}))
    else:
        for line in describe(report):
            typer.echo(line)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def purge(
    older_than: Annotated[
        int | None,
        typer.Option("--older-than", metavar="DAYS",
                     help="Delete raw bodies of messages older than this (default: "
                          "retention.keep_raw_days; at least 30)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count only; change nothing.")] = False,
    config: ConfigOption = None,
) -> None:
    """Delete the raw bodies of old, finished messages.

    Cases, header data, classifications and the audit trail are kept.
    """
    from foi_mailbot.bootstrap import build
    from foi_mailbot.purge import check_days, purge_raw

    settings = settings_from(config)
    days = older_than if older_than is not None else settings.retention.keep_raw_days
    if days is None:
        fail("give --older-than DAYS, or set retention.keep_raw_days in the configuration")
    with friendly_errors():
        check_days(days)
        app_ = build(settings)
        try:
            result = purge_raw(app_.factory, app_.clock, older_than_days=days, dry_run=dry_run)
        finally:
            app_.close()
    verb = "Would delete" if result.dry_run else "Deleted"
    bodies = "the raw body of 1 message" if result.purged == 1 else (
        f"the raw bodies of {result.purged} messages")
    typer.echo(f"{verb} {bodies} received before "
               f"{result.cutoff:%Y-%m-%d %H:%M} UTC ({result.bytes_freed / 1_048_576:.1f} MB).")
    typer.echo(f"Kept: {result.kept_unfinished} not yet dealt with or waiting for a person, "
               f"{result.kept_open_case} on cases still open.")
