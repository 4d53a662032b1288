"""The triage commands for administrators: `cases new|link|review|close|reopen|merge|received`.

The same implementation as the commands by email (`triage.actions`): each runs in one
transaction, is audited as given on the command line, and settles the message's triage item
when it names a message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from foi_mailbot.cli.common import ConfigOption, cases_app, fail, settings_from

MessageArg = Annotated[int, typer.Argument(help="The stored message's number (see `triage`).")]
RefArg = Annotated[str, typer.Argument(help="A case reference, e.g. IC-000123-N1W5.")]


def _run(config: Path | None, line: str, *, message: int | None = None,
         reference: str | None = None) -> None:
    from foi_mailbot.bootstrap import build
    from foi_mailbot.cases.register import find_case
    from foi_mailbot.storage.db import session_scope
    from foi_mailbot.storage.models import InboundMessage
    from foi_mailbot.triage import items
    from foi_mailbot.triage.actions import Context, Refused, perform, received_on
    from foi_mailbot.triage.commands import parse_line

    command = parse_line(line)
    if command is None:
        fail(f"'{line}' is not a command")
    app_ = build(settings_from(config))
    now = app_.clock.now()
    try:
        with session_scope(app_.factory) as session:
            row = session.get(InboundMessage, message) if message is not None else None
            if message is not None and row is None:
                fail(f"there is no message {message}")
            ctx = Context(app_.services, now, "cli", row)
            case = find_case(session, reference.upper()) if reference else None
            if reference and case is None:
                fail(f"there is no case {reference.upper()}")
            done = (received_on(session, ctx, case, command) if case is not None
                    else perform(session, ctx, command))
            item = items.item_of(session, row.id) if row is not None else None
            if item is not None and item.settled_at is None:
                items.settle(item, by="cli", command=line, now=now, undo=done.undo)
            elif row is not None:
                row.resolved_at = now
            if row is not None and done.held is not None:
                items.await_send(row, item, done.held)  # releasable by email too
            state = (f"; {done.case.reference} is {done.case.status}, due {done.case.due_on}"
                     if done.case is not None else "")
    except Refused as exc:
        app_.close()
        fail(str(exc))
    app_.outbox.drain()
    app_.close()
    typer.echo(f"{done.effect}{state}")


@cases_app.command("new")
def cases_new(
    message: MessageArg,
    law: Annotated[str | None, typer.Argument(help="foia, eir, foisa or sar.")] = None,
    config: ConfigOption = None,
) -> None:
    """Open a stored message as a new request: case, deadline, acknowledgement."""
    _run(config, f"new {law}" if law else "new", message=message)


@cases_app.command("link")
def cases_link(message: MessageArg, reference: RefArg, config: ConfigOption = None) -> None:
    """Attach a stored message to a case (a clarification restarts the clock)."""
    _run(config, f"link {reference}", message=message)


@cases_app.command("review")
def cases_review(message: MessageArg, reference: RefArg, config: ConfigOption = None) -> None:
    """Open an internal review of a case from a stored message."""
    _run(config, f"review {reference}", message=message)


@cases_app.command("close")
def cases_close(
    reference: RefArg,
    outcome: Annotated[str, typer.Argument(help="provided, partly, refused, not held, ncnd, "
                                                "withdrawn.")] = "provided",
    config: ConfigOption = None,
) -> None:
    """Close a case with its outcome."""
    _run(config, f"close {reference} {outcome}")


@cases_app.command("reopen")
def cases_reopen(reference: RefArg, config: ConfigOption = None) -> None:
    """Reopen a closed case."""
    _run(config, f"reopen {reference}")


@cases_app.command("merge")
def cases_merge(merged: RefArg, into: RefArg, config: ConfigOption = None) -> None:
    """Merge the first case into the second (which keeps the earliest date of receipt)."""
    _run(config, f"merge {merged} into {into}")


@cases_app.command("received")
def cases_received(
    reference: RefArg,
    day: Annotated[str, typer.Argument(help="The date of receipt, YYYY-MM-DD.")],
    config: ConfigOption = None,
) -> None:
    """Correct a case's date of receipt; the deadline is recomputed and explained."""
    _run(config, f"received {day}", reference=reference)
