"""`resume-replies DOMAIN`: lift the loop breaker's stop on automatic letters to a domain."""

from __future__ import annotations

from typing import Annotated

import typer

from foi_mailbot.cli.common import ConfigOption, app, friendly_errors, settings_from


@app.command("resume-replies")
def resume_replies(
    domain: Annotated[str, typer.Argument(help="The domain whose automatic letters resume.")],
    config: ConfigOption = None,
) -> None:
    """Send automatic letters to DOMAIN again after the loop breaker stopped them."""
    from foi_mailbot.bootstrap import build
    from foi_mailbot.outbound.breaker import resume, stopped_domains
    from foi_mailbot.storage.db import session_scope

    settings = settings_from(config)
    with friendly_errors():
        app_ = build(settings)
        try:
            with session_scope(app_.factory) as session:
                lifted = resume(session, domain, app_.clock.now())
                still = stopped_domains(session)
        finally:
            app_.close()
    name = domain.strip().lower().lstrip("@")
    if lifted:
        typer.echo(f"Automatic letters to {name} resume.")
    else:
        typer.echo(f"Automatic letters to {name} were not stopped.")
    if still:
        typer.echo(f"Still stopped: {', '.join(still)}.")
