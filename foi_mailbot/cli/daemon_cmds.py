"""Commands that run the service: `run`, `once`, `check-config`, `db upgrade`."""

from __future__ import annotations

from pathlib import Path

import typer

from foi_mailbot.bootstrap import App, build, make_health_server, make_scheduler
from foi_mailbot.cli.common import ConfigOption, app, db_app, fail, friendly_errors, settings_from
from foi_mailbot.errors import ConfigError
from foi_mailbot.logconfig import configure
from foi_mailbot.settings import DEFAULT_SECRET, load_settings
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
    import signal
    import threading
    from functools import partial

    from foi_mailbot.daemon import Daemon
    from foi_mailbot.leader import acquire_leadership

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):  # a standby waiting its turn stops too
        signal.signal(signum, lambda *_: stop.set())
    leadership = acquire_leadership(app_.engine, stop=stop)
    if not leadership.acquired:
        return
    daemon = Daemon(app_, source, stop=stop, on_sync=partial(app_.alerter.report, "mailbox"),
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
def check_config(config: ConfigOption = None) -> None:
    """Validate the configuration and render every template with sample data."""
    from foi_mailbot.jobs import template_samples
    from foi_mailbot.outbound.render import check_templates, make_environment

    try:
        settings = load_settings(config)
    except ConfigError as exc:
        for problem in str(exc).split("; "):
            typer.echo(f"wrong: {problem}", err=True)
        raise typer.Exit(2) from exc
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


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Apply database migrations."""
    with friendly_errors():
        build(settings_from(config)).close()
    typer.echo("Database is up to date.")
