"""Commands for going live on a mailbox with history: `cases confirm`, `cases send`."""

from __future__ import annotations

from typing import Annotated

import typer

from foi_mailbot.cli.common import ConfigOption, cases_app, fail, settings_from


@cases_app.command("confirm")
def cases_confirm(
    reference: Annotated[str | None, typer.Argument(help="The case to confirm.")] = None,
    all_cases: Annotated[bool, typer.Option("--all", help="Every case to confirm.")] = False,
    config: ConfigOption = None,
) -> None:
    """Confirm cases imported with the mailbox's history: reminders resume, nothing is sent."""
    from sqlalchemy import select

    from foi_mailbot.bootstrap import build
    from foi_mailbot.cases.holding import TO_CONFIRM
    from foi_mailbot.cases.release import confirm
    from foi_mailbot.storage.db import session_scope
    from foi_mailbot.storage.models import Case

    if (reference is None) == (not all_cases):
        fail("name one case (REF) or give --all")
    app_ = build(settings_from(config))
    with session_scope(app_.factory) as session:
        stmt = select(Case).where(Case.hold == TO_CONFIRM)
        if reference is not None:
            stmt = select(Case).where(Case.reference == reference.strip().upper())
        cases = list(session.scalars(stmt.order_by(Case.id)))
        if reference is not None and not cases:
            fail(f"there is no case {reference}")
        done = [c.reference for c in cases if confirm(session, c, app_.clock.now())]
    app_.close()
    if reference is not None and not done:
        fail(f"{reference} is not waiting to be confirmed")
    typer.echo(f"Confirmed {len(done)} case{'s' if len(done) != 1 else ''}.")


@cases_app.command("send")
def cases_send(reference: str, config: ConfigOption = None) -> None:
    """Send a case's held acknowledgement now, saying it is late or due soon."""
    from sqlalchemy import select

    from foi_mailbot.bootstrap import build
    from foi_mailbot.cases.release import send_held
    from foi_mailbot.storage.db import session_scope
    from foi_mailbot.storage.models import Case

    app_ = build(settings_from(config))
    with session_scope(app_.factory) as session:
        case = session.scalars(
            select(Case).where(Case.reference == reference.strip().upper())).first()
        if case is None:
            fail(f"there is no case {reference}")
        said = send_held(session, app_.services, case, app_.clock.now())
    app_.outbox.drain()
    app_.close()
    typer.echo(said)
