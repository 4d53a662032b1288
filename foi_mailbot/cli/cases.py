"""Commands about deadlines and cases: `deadline`, `cases list`, `cases show`, `triage`."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer

from foi_mailbot.cli.common import (
    Command,
    ConfigOption,
    JsonOption,
    app,
    cases_app,
    config_path,
    fail,
    friendly_errors,
    settings_from,
)

if TYPE_CHECKING:
    from foi_mailbot.deadlines.laws import ClockEvent
    from foi_mailbot.deadlines.statutory import ClockPolicy
    from foi_mailbot.storage.models import Case

# The names `foi_mailbot.settings` reads (checked by a test), without loading it.
CONFIG_ENV: Final = "FOI_MAILBOT_CONFIG"
CLOCK_ENV: Final = "FOI_MAILBOT_CLOCK"


def _parse_date(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{what} '{text}' is not a real date in the form YYYY-MM-DD")


def _parse_event(text: str) -> ClockEvent:
    from foi_mailbot.deadlines.laws import ClockEvent, EventKind

    parts = text.split(":")
    if len(parts) not in (2, 3):
        fail(f"event '{text}' should look like TYPE:YYYY-MM-DD or TYPE:YYYY-MM-DD:DAYS")
    try:
        kind = EventKind(parts[0])
    except ValueError:
        known = ", ".join(k.value for k in EventKind)
        fail(f"'{parts[0]}' is not an event type; use one of {known}")
    on = _parse_date(parts[1], f"the date of event {parts[0]}")
    days = None
    if len(parts) == 3:
        if not parts[2].isdigit() or int(parts[2]) < 1:
            fail(f"the length of event '{text}' must be a whole number of days, 1 or more")
        days = int(parts[2])
    return ClockEvent(kind=kind, on=on, days=days)


@app.command()
def deadline(
    law: Annotated[str, typer.Option(
        metavar="LAW", help="foia, eir, foisa, eisr, sar or review_foia/eir/foisa/eisr.")],
    received: Annotated[str, typer.Option(metavar="DATE", help="Date of receipt, YYYY-MM-DD.")],
    event: Annotated[list[str] | None, typer.Option(
        metavar="TYPE:DATE[:DAYS]", help="A clock event, e.g. clarification_sought:2026-01-07; "
                                         "repeatable.")] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Print the statutory due date and its explanation."""
    from foi_mailbot.deadlines.laws import Law
    from foi_mailbot.deadlines.record import deadline_json
    from foi_mailbot.deadlines.statutory import due_date

    try:
        regime = Law(law.lower())
    except ValueError:
        fail(f"'{law}' is not a law foi-mailbot knows; use one of {', '.join(Law)}")
    start = _parse_date(received, "the date of receipt")
    events = [_parse_event(e) for e in event or []]
    with friendly_errors():
        result = due_date(start, regime, events, policy=_clock_policy(config))
    if as_json:
        typer.echo(json.dumps(deadline_json(result)))
        return
    for line in result.explanation():
        typer.echo(line)


def _clock_policy(config: Path | None) -> ClockPolicy:
    """The clock's choices from the configuration, or the defaults when there is none to read.

    Loading the configuration costs more than the rest of the command (pydantic-settings);
    with no file and no FOI_MAILBOT_CLOCK variable it could only give the defaults.
    """
    from foi_mailbot.deadlines.statutory import ClockPolicy

    if config_path(config) is None and not any(
        name.upper().startswith((CONFIG_ENV, CLOCK_ENV)) for name in os.environ
    ):
        return ClockPolicy()
    from foi_mailbot.clock_policy import clock_policy

    return clock_policy(settings_from(config))


def _case_summary(case: Case) -> dict[str, Any]:
    return {
        "reference": case.reference,
        "law": case.law,
        "status": case.status,
        "applicant": case.applicant_email,
        "subject": case.subject,
        "received": case.received_on.isoformat(),
        "due": case.due_on.isoformat() if case.due_on else None,
        "review_of": None,
        "hold": case.hold,
    }


@cases_app.command("list")
def cases_list(
    status: Annotated[str | None, typer.Option(
        metavar="STATE", help="Only cases in this state, e.g. acknowledged.")] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """List cases, newest first."""
    from sqlalchemy import select

    from foi_mailbot.bootstrap import build
    from foi_mailbot.cases.lifecycle import State
    from foi_mailbot.storage.db import session_scope
    from foi_mailbot.storage.models import Case

    if status is not None and status not in {s.value for s in State}:
        fail(f"'{status}' is not a case state; use one of {', '.join(s.value for s in State)}")
    app_ = build(settings_from(config))
    with session_scope(app_.factory) as session:
        stmt = select(Case).order_by(Case.id.desc())
        if status:
            stmt = stmt.where(Case.status == status)
        rows = [_case_summary(c) for c in session.scalars(stmt)]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    if not rows:
        typer.echo("No cases.")
    for row in rows:
        typer.echo(f"{row['reference']}  {row['law']:<12} {row['status']:<22} "
                   f"received {row['received']}  due {row['due'] or '(clock stopped)'}  "
                   f"{row['applicant']}")


@cases_app.command("show", cls=Command)
def cases_show(
    reference: Annotated[str, typer.Argument(metavar="REF", help="A case reference.")],
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Show one case: its deadline with reasons, and its timeline."""
    from sqlalchemy import select

    from foi_mailbot.bootstrap import build
    from foi_mailbot.storage.db import session_scope
    from foi_mailbot.storage.models import Case

    app_ = build(settings_from(config))
    with session_scope(app_.factory) as session:
        case = session.scalars(select(Case).where(Case.reference == reference.upper())).first()
        if case is None:
            fail(f"there is no case {reference}")
        data = _case_summary(case)
        data["deadline"] = case.deadline
        data["outcome"], data["on_time"] = case.outcome, case.on_time
        data["timeline"] = [
            {"on": e.on.isoformat(), "what": e.kind, "clock": e.clock_event,
             "message": e.message_pk, "status": e.status_after, "reasons": e.reasons}
            for e in case.events
        ]
    if as_json:
        typer.echo(json.dumps(data))
        return
    typer.echo(f"{data['reference']}: {data['law']}, {data['status']}")
    typer.echo(f"Requester: {data['applicant']}")
    typer.echo(f"Received {data['received']}; due {data['due'] or '(clock stopped)'}")
    for line in (case.deadline or {}).get("explanation", []):
        typer.echo(f"  {line}")
    typer.echo("Timeline:")
    for item in data["timeline"]:
        why = "; ".join(r for r in item["reasons"] or [] if r)
        source = f" (message {item['message']})" if item["message"] else ""
        typer.echo(f"  {item['on']}  {item['what']}{source} -> {item['status']}  {why}")


@app.command()
def triage(as_json: JsonOption = False, config: ConfigOption = None) -> None:
    """List the open triage items (messages that need a person), with their age and token."""
    from foi_mailbot.bootstrap import build
    from foi_mailbot.storage.db import session_scope
    from foi_mailbot.triage.items import open_items

    app_ = build(settings_from(config))
    now = app_.clock.now()
    with session_scope(app_.factory) as session:
        rows: list[dict[str, Any]] = [
            {"message": i.message_pk, "token": i.token, "arrived": i.arrived.isoformat(),
             "age": i.age(now), "from": i.sender, "subject": i.subject, "kind": i.kind,
             "case": i.reference, "reason": i.reason}
            for i in open_items(session)
        ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    if not rows:
        typer.echo("Nothing needs a person.")
        return
    typer.echo(f"{len(rows)} open item{'s' if len(rows) != 1 else ''}:")
    for row in rows:
        typer.echo(f"#{row['message']}  {row['token'] or '(token at next sweep)'}  "
                   f"open {row['age']}  {row['from']}  \"{row['subject']}\"  "
                   f"{row['kind']}: {row['reason']}")
