"""Commands that run the service: `run`, `once`, `check-config`, `db upgrade`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from foi_mailbot.bootstrap import App, build
from foi_mailbot.cli.common import ConfigOption, app, db_app, fail, friendly_errors, settings_from
from foi_mailbot.errors import ConfigError
from foi_mailbot.logconfig import configure
from foi_mailbot.settings import DEFAULT_SECRET, Settings, load_settings
from foi_mailbot.sources import MailSource


def _with_mailbox(config: Path | None) -> tuple[App, MailSource]:
    """Settings, logging and the application with its mail source connected."""
    settings = settings_from(config)
    configure()
    app_ = build(settings, with_source=True)
    if app_.source is None:
        fail("no mailbox is configured")
    return app_, app_.source


@app.command()
def run(config: ConfigOption = None) -> None:
    """Run the daemon: watch the mailbox, process mail, send acknowledgements, run schedules."""
    with friendly_errors():
        _serve(*_with_mailbox(config))


def _serve(app_: App, source: MailSource) -> None:
    """Become the active instance, then run the loop with health, alerts and schedules."""
    from foi_mailbot.alerts import Alerter
    from foi_mailbot.daemon import Daemon
    from foi_mailbot.health import HealthServer
    from foi_mailbot.jobs import make_scheduler
    from foi_mailbot.leader import acquire_leadership

    daemon = Daemon(app_, source)
    daemon.install_signal_handlers()
    leadership = acquire_leadership(app_.engine, stop=daemon.stop)
    if not leadership.acquired:
        return
    alerter = Alerter(app_)
    alerter.watch_outbox(app_.outbox)
    if app_.oauth is not None:
        alerter.watch_tokens(app_.oauth)

    def synced(error: str | None) -> None:
        alerter.check_secret_expiry()
        if error:
            alerter.failure("mailbox", error)
        else:
            alerter.success("mailbox")

    daemon.on_sync = synced
    daemon.leadership_lost = leadership.lost
    health = HealthServer(app_) if app_.settings.health.enabled else None
    app_.warm_up()
    scheduler = make_scheduler(app_, stop_event=daemon.stop)
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
def once(config: ConfigOption = None) -> None:
    """Run one cycle (fetch, process, send) and exit; for cron or a first try."""
    from foi_mailbot.daemon import Daemon
    from foi_mailbot.leader import acquire_leadership

    with friendly_errors():
        app_, source = _with_mailbox(config)
        daemon = Daemon(app_, source)
        with acquire_leadership(app_.engine, stop=daemon.stop):
            app_.warm_up()
            app_.outbox.recover()
            daemon.run_until_idle()
        app_.close()


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
    """Validate the configuration and render every template with sample data."""
    from foi_mailbot.jobs import template_samples
    from foi_mailbot.outbound.render import check_templates, make_environment

    try:
        settings = load_settings(config)
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
    if settings.organisation.reference_secret.get_secret_value() == DEFAULT_SECRET:
        typer.echo("warning: organisation.reference_secret is the example value; set your own "
                   "before opening real cases, or references can be guessed", err=True)
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
    with friendly_errors():
        build(settings_from(config)).close()
    typer.echo("Database is up to date.")
