"""Commands that run the service: `run`, `once`, `check-config`, `db upgrade`, `outbox send`."""

from __future__ import annotations

import typer

from foi_mailbot.bootstrap import build
from foi_mailbot.cli.common import ConfigOption, app, db_app, fail, friendly_errors, settings_from
from foi_mailbot.errors import ConfigError
from foi_mailbot.logconfig import configure
from foi_mailbot.settings import load_settings


@app.command()
def run(config: ConfigOption = None) -> None:
    """Run the daemon: watch the mailbox, process mail, send acknowledgements, run schedules."""
    from foi_mailbot.daemon import Daemon

    settings = settings_from(config)
    configure()
    with friendly_errors():
        app_ = build(settings, with_source=True)
        if app_.source is None:
            fail("no mailbox is configured")
        daemon = Daemon(app_, app_.source)
        daemon.install_signal_handlers()
        daemon.run()


@app.command()
def once(config: ConfigOption = None) -> None:
    """Run one cycle (fetch, process, send) and exit; for cron or a first try."""
    from foi_mailbot.daemon import Daemon

    settings = settings_from(config)
    configure()
    with friendly_errors():
        app_ = build(settings, with_source=True)
        if app_.source is None:
            fail("no mailbox is configured")
        Daemon(app_, app_.source).run_until_idle()
        app_.close()


@app.command("check-config")
def check_config(config: ConfigOption = None) -> None:
    """Validate the configuration and render every template with sample data."""
    from foi_mailbot.outbound.render import check_templates, make_environment

    try:
        settings = load_settings(config)
    except ConfigError as exc:
        for problem in str(exc).split("; "):
            typer.echo(f"wrong: {problem}", err=True)
        raise typer.Exit(2) from exc
    try:
        problems = check_templates(make_environment(settings.paths.template_dir))
    except ConfigError as exc:
        problems = [str(exc)]
    for problem in problems:
        typer.echo(f"template: {problem}", err=True)
    if problems:
        raise typer.Exit(2)
    typer.echo("Configuration and templates are valid.")


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Apply database migrations."""
    with friendly_errors():
        build(settings_from(config)).close()
    typer.echo("Database is up to date.")
