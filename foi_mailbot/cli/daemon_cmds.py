"""Commands that run the service: `run`, `once`, `check-config`, `db upgrade`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from foi_mailbot.cli.common import (
    ConfigOption,
    app,
    config_path,
    db_app,
    fail,
    friendly_errors,
    settings_from,
)
from foi_mailbot.cli.summary import cycle_summary

if TYPE_CHECKING:
    from foi_mailbot.bootstrap import App
    from foi_mailbot.settings import Settings
    from foi_mailbot.sources import MailSource


def _with_mailbox(config: Path | None) -> tuple[App, MailSource]:
    """Settings, logging and the application with its mail source connected."""
    from foi_mailbot.bootstrap import build
    from foi_mailbot.logconfig import configure
    from foi_mailbot.storage.private import make_private
    from foi_mailbot.storage.secret import example_secret_refusal

    settings = settings_from(config)
    refusal = example_secret_refusal(settings)
    if refusal is not None:
        fail(refusal)
    make_private(settings)
    configure()
    app_ = build(settings, with_source=True)
    if app_.source is None:
        fail("no mailbox is configured")
    return app_, app_.source


@app.command()
def run(config: ConfigOption = None) -> None:
    """Run the daemon: mail loop, health endpoint and schedules.

    It watches the mailbox, processes mail, sends acknowledgements and runs the schedules.
    """
    with friendly_errors():
        app_, source = _with_mailbox(config)
        for line in where_to_look(app_.settings):
            typer.echo(line, err=True)
        _serve(app_, source)


def where_to_look(settings: Settings) -> list[str]:
    """Where mail goes in and letters come out when they are local folders, and the health URL.

    Printed as the daemon starts, so a first run (`./scripts/demo`) says what to do next.
    """
    lines = []
    if not settings.mailbox.uses_imap():
        maildir = (settings.mailbox.maildir or settings.paths.data_dir / "maildir").absolute()
        lines.append(f"Mailbox: drop .eml files into {maildir / 'new'}")
    if settings.smtp.host is None:
        lines.append(f"Letters: written as .eml files to {settings.paths.outgoing().absolute()}")
    health = settings.health
    if health.enabled and health.port:
        lines.append(f"Health: http://{health.host}:{health.port}/healthz")
    return lines


def _serve(app_: App, source: MailSource) -> None:
    """Become the active instance, then run the loop with health, alerts and schedules."""
    import signal
    import threading

    from foi_mailbot.bootstrap import make_health_server, make_scheduler
    from foi_mailbot.daemon import Daemon
    from foi_mailbot.leader import acquire_leadership

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):  # a standby waiting its turn stops too
        signal.signal(signum, lambda *_: stop.set())
    leadership = acquire_leadership(app_.engine, stop=stop)
    if not leadership.acquired:
        return
    daemon = Daemon(app_, source, stop=stop, on_sync=app_.alerter.mailbox_synced,
                    leadership_lost=leadership.lost)
    daemon.install_signal_handlers()
    health = make_health_server(app_) if app_.settings.health.enabled else None
    app_.warm_up()
    scheduler = make_scheduler(app_, stop_event=stop)
    try:
        if health is not None:
            health.start()
        scheduler.start()
        daemon.run()
    finally:
        scheduler.shutdown(wait=True)
        if health is not None:
            health.stop()
        lost = leadership.lost()
        leadership.release()
        app_.close()
    if lost:
        # Non-zero, so a supervisor with Restart=on-failure brings it back to wait its turn.
        fail("the database lock was lost (database restarted?); exiting to start again", 3)


@app.command()
def once(
    config: ConfigOption = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print what would be done; store, send and move nothing.")] = False,
) -> None:
    """Run one cycle (fetch, process, send) and say what it did.

    For cron or a first try.
    """
    from foi_mailbot.daemon import Daemon
    from foi_mailbot.leader import acquire_leadership

    if dry_run:
        from foi_mailbot.dry_run import run_dry

        with friendly_errors():
            run_dry(settings_from(config), typer.echo)
        return
    with friendly_errors():
        app_, source = _with_mailbox(config)
        daemon = Daemon(app_, source)
        with acquire_leadership(app_.engine, stop=daemon.stop), cycle_summary(app_) as summary:
            app_.warm_up()
            app_.outbox.recover()
            daemon.run_until_idle()
        app_.close()
    for line in summary.lines():
        typer.echo(line)


@app.command("check-config")
def check_config(
    config: ConfigOption = None,
    connect: Annotated[bool, typer.Option(
        "--connect", help="Also log in to the mailbox and the SMTP server and check folders.")
    ] = False,
    create_folders: Annotated[bool, typer.Option(
        "--create-folders", help="With --connect: create a missing processed folder.")] = False,
    send_test: Annotated[str | None, typer.Option(
        "--send-test", metavar="ADDRESS",
        help="With --connect: send one test message, then look for the server's copy in Sent.")
    ] = None,
) -> None:
    """Check the configuration and every template.

    Names each wrong key and why, and renders every template with sample data; with
    --connect, also logs in to the mailbox and the SMTP server.
    """
    from foi_mailbot.errors import ConfigError
    from foi_mailbot.jobs import template_samples
    from foi_mailbot.outbound.render import check_templates, make_environment
    from foi_mailbot.settings import load_settings
    from foi_mailbot.storage.secret import example_secret_refusal

    try:
        settings = load_settings(config_path(config))
    except ConfigError as exc:
        for problem in str(exc).split("; "):
            typer.echo(f"wrong: {problem}", err=True)
        raise typer.Exit(2) from exc
    from foi_mailbot.cli.connect import sign_in_problems

    for problem in sign_in_problems(settings):
        typer.echo(f"wrong: {problem}", err=True)
        raise typer.Exit(2)
    try:
        env = make_environment(settings.paths.template_dir)
        problems = check_templates(env, extra=template_samples())
    except ConfigError as exc:
        problems = [str(exc)]
    for problem in problems:
        typer.echo(f"template: {problem}", err=True)
    if problems:
        raise typer.Exit(2)
    refusal = example_secret_refusal(settings)
    if refusal is not None:
        typer.echo(f"warning: {refusal}", err=True)
    typer.echo("Configuration and templates are valid.")
    if connect or send_test:
        _connect(settings, create_folders=create_folders, send_test=send_test)


def _connect(settings: Settings, *, create_folders: bool, send_test: str | None) -> None:
    """Log in to both servers and report one line each; exit 1 if anything is wrong."""
    from foi_mailbot.cli.connect import check_connections

    findings = check_connections(settings, create_folders=create_folders, send_test=send_test)
    for finding in findings:
        typer.echo(finding.line())
    if any(finding.level == "wrong" for finding in findings):
        raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Apply database migrations."""
    from foi_mailbot.bootstrap import build

    with friendly_errors():
        build(settings_from(config)).close()
    typer.echo("Database is up to date.")
