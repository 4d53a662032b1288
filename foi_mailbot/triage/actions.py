"""What each triage command does to the register: one implementation for mail and the CLI.

`perform` checks everything a command needs (the cases exist, the move is allowed) before it
changes anything, so a refused command leaves nothing half-applied; the caller's transaction
holds the rest. Opening and attaching go through the message path's own `cases.service.apply`,
so a case opened by a person gets the same deadline and acknowledgement as one opened alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from foi_mailbot.cases.lifecycle import Event, State, allowed, explain_illegal
from foi_mailbot.cases.matching import Match
from foi_mailbot.cases.register import add_event, audit, find_case, move, refresh_deadline
from foi_mailbot.cases.release import held_letter_key, letter_queued, send_held
from foi_mailbot.cases.service import Services, apply
from foi_mailbot.classify.base import Classification, Kind
from foi_mailbot.clock import local_date
from foi_mailbot.deadlines.laws import Law
from foi_mailbot.outbound import breaker
from foi_mailbot.storage.models import Case, InboundMessage
from foi_mailbot.storage.state import put_state
from foi_mailbot.stored import parse_stored
from foi_mailbot.triage.commands import Command
from foi_mailbot.triage.undo import snapshot

MERGED_PREFIX = "merged:"


class Refused(Exception):
    """A command that cannot be applied as written; nothing was changed."""


@dataclass
class Done:
    """What a command did: in words, the case it leaves, what undoing needs, and why the case's
    letter is held when the command left it waiting for `send`."""

    effect: str
    case: Case | None = None
    undo: dict[str, Any] = field(default_factory=dict)
    held: str | None = None


@dataclass(frozen=True)
class Context:
    """Who asked, when, and the message the command is about (None on the CLI's case verbs)."""

    services: Services
    now: datetime
    by: str
    message: InboundMessage | None = None


def perform(session: Session, ctx: Context, command: Command) -> Done:
    """Apply one command; raises Refused (nothing changed) when it cannot be."""
    handler = _HANDLERS.get(command.verb)
    if handler is None:
        msg = f"'{command.verb}' is not a command"
        raise Refused(msg)
    done = handler(session, ctx, command)
    audit(session, at=ctx.now, action=f"triage.{command.verb}", cause=ctx.by, case=done.case,
          message_pk=ctx.message.id if ctx.message else None,
          detail={"command": command.line or command.verb, "effect": done.effect})
    return done


def _case(session: Session, reference: str) -> Case:
    case = find_case(session, reference.upper())
    if case is None:
        msg = f"there is no case {reference.upper()}"
        raise Refused(msg)
    return case


def _message(ctx: Context) -> InboundMessage:
    if ctx.message is None:
        msg = "this command is about a message: reply to its notice"
        raise Refused(msg)
    return ctx.message


def _message_case(session: Session, ctx: Context) -> Case:
    row = _message(ctx)
    case = session.get(Case, row.case_id) if row.case_id else None
    if case is None:
        msg = "the message is on no case: link it first (link IC-...)"
        raise Refused(msg)
    return case


def _check(case: Case, event: Event) -> None:
    if not allowed(State(case.status), event):
        msg = f"{case.reference}: {explain_illegal(State(case.status), event)}"
        raise Refused(msg)


def _zone_day(ctx: Context, instant: datetime) -> date:
    return local_date(instant, ctx.services.settings.organisation.zone)


def _through_message_path(session: Session, ctx: Context, kind: Kind, case: Case | None,
                          law: Law | None, how: str) -> Done:
    row = _message(ctx)
    mail = parse_stored(session, row, ctx.services.settings.mailbox.max_message_bytes)
    if mail is None:
        msg = "the message's text is no longer stored"
        raise Refused(msg)
    undo = snapshot(session, [case] if case else [], row)
    verdict = Classification(kind, "triage_command", (f"{how} by {ctx.by}",), law=law)
    outcome = apply(session, ctx.services, row, mail, verdict, Match(case, how), ctx.now)
    session.flush()
    if outcome.case is not None and case is None:
        undo["opened"] = [outcome.case.id]
    row.kind, row.effect = kind.value, outcome.effect
    return Done(outcome.effect, outcome.case, undo, _held(session, outcome.case,
                                                          outcome.attention or []))


def _held(session: Session, case: Case | None, attention: list[str]) -> str | None:
    """Why the case's acknowledgement waits for `send`, when this command held it."""
    said = [reason for reason in attention if reason.startswith("letter held")]
    if not said or case is None or letter_queued(session, case):
        return None  # a held clarification letter is not one `send` releases
    return "; ".join(said)


def _new(session: Session, ctx: Context, cmd: Command) -> Done:
    law = Law(cmd.args[0]) if cmd.args else None
    if _message(ctx).case_id is not None:
        msg = "the message is on a case already"
        raise Refused(msg)
    return _through_message_path(session, ctx, Kind.NEW_REQUEST, None, law, "opened")


def _link(session: Session, ctx: Context, cmd: Command) -> Done:
    case = _case(session, cmd.reference())
    return _through_message_path(session, ctx, Kind.CLARIFICATION, case, None,
                                 f"linked to {case.reference}")


def _review(session: Session, ctx: Context, cmd: Command) -> Done:
    case = _case(session, cmd.reference())
    return _through_message_path(session, ctx, Kind.REVIEW_REQUEST, case, None,
                                 f"review of {case.reference}")


def _set_aside(session: Session, ctx: Context, cmd: Command) -> Done:
    row = _message(ctx)
    undo = snapshot(session, [], row)
    said = "not an FOI request" if cmd.verb == "not_foi" else "nothing to do"
    if cmd.verb == "not_foi":
        row.kind = Kind.NOT_FOI.value
    row.effect = f"{said} (decided by {ctx.by})"
    return Done(f"message set aside: {said}", None, undo)


def _close(session: Session, ctx: Context, case: Case, outcome: str | None) -> Done:
    if outcome is None:
        msg = ("the outcome is not one we know "
               "(provided, partly, refused, not held, ncnd, withdrawn)")
        raise Refused(msg)
    _check(case, Event.CLOSED)
    undo = snapshot(session, [case], ctx.message)
    today = _zone_day(ctx, ctx.now)
    move(session, case, Event.CLOSED, ctx.now, ctx.message, [f"closed by {ctx.by}: {outcome}"],
         on=today)
    case.outcome, case.completed_on = outcome, today
    case.on_time = case.due_on is None or today <= case.due_on
    calendar = ctx.services.calendars.for_law(Law(case.law))
    case.working_days_taken = calendar.working_days_between(case.received_on, today)
    return Done(f"{case.reference} closed ({outcome})", case, undo)


def _close_cmd(session: Session, ctx: Context, cmd: Command) -> Done:
    return _close(session, ctx, _case(session, cmd.reference()), cmd.outcome())


def _withdrawn(session: Session, ctx: Context, _cmd: Command) -> Done:
    return _close(session, ctx, _message_case(session, ctx), "withdrawn")


def _reopen(session: Session, ctx: Context, cmd: Command) -> Done:
    case = _case(session, cmd.reference())
    _check(case, Event.REOPENED)
    undo = snapshot(session, [case], ctx.message)
    move(session, case, Event.REOPENED, ctx.now, ctx.message, [f"reopened by {ctx.by}"],
         on=_zone_day(ctx, ctx.now))
    case.completed_on, case.on_time, case.outcome = None, None, None
    return Done(f"{case.reference} reopened", case, undo)


def _merge(session: Session, ctx: Context, cmd: Command) -> Done:
    gone, kept = _case(session, cmd.reference(0)), _case(session, cmd.reference(1))
    if gone.id == kept.id:
        msg = "a case cannot be merged into itself"
        raise Refused(msg)
    _check(gone, Event.CLOSED)
    undo = snapshot(session, [gone, kept], ctx.message)
    moved = list(session.scalars(select(InboundMessage).where(InboundMessage.case_id == gone.id)))
    undo["moved"] = [{"message": m.id, "case_id": gone.id} for m in moved]
    for message in moved:
        message.case_id = kept.id
    if gone.received_on < kept.received_on:  # the earliest date of receipt is the one that counts
        kept.received_on, kept.received_at = gone.received_on, gone.received_at
    today = _zone_day(ctx, ctx.now)
    add_event(session, kept, kind="merged", on=today, now=ctx.now,
              reasons=[f"{gone.reference} merged into this case by {ctx.by}; "
                       f"received on {kept.received_on}"])
    refresh_deadline(session, kept, ctx.services.calendars, now=ctx.now,
                     cause=f"{gone.reference} merged in")
    move(session, gone, Event.CLOSED, ctx.now, ctx.message,
         [f"merged into {kept.reference} by {ctx.by}"], on=today)
    gone.outcome = "merged"
    put_state(session, MERGED_PREFIX + gone.reference, {"into": kept.reference}, ctx.now)
    return Done(f"{gone.reference} merged into {kept.reference}", kept, undo)


def _received(session: Session, ctx: Context, cmd: Command) -> Done:
    case = _message_case(session, ctx) if ctx.message else None
    if case is None:
        msg = "say which case: cases received REF DATE"
        raise Refused(msg)
    return received_on(session, ctx, case, cmd)


def received_on(session: Session, ctx: Context, case: Case, cmd: Command) -> Done:
    """Correct a case's date of receipt and recompute its deadline."""
    try:
        day = cmd.received_on()
    except ValueError as exc:
        msg = f"{cmd.args[0]} is not a date"
        raise Refused(msg) from exc
    if day > _zone_day(ctx, ctx.now):
        msg = f"{day} is in the future"
        raise Refused(msg)
    undo = snapshot(session, [case], ctx.message)
    zone = ctx.services.settings.organisation.zone
    case.received_on = day
    case.received_at = datetime.combine(day, time(9, 0), tzinfo=zone)
    add_event(session, case, kind="received_corrected", on=day, now=ctx.now,
              reasons=[f"date of receipt corrected to {day} by {ctx.by}"])
    refresh_deadline(session, case, ctx.services.calendars, now=ctx.now,
                     cause=f"date of receipt corrected by {ctx.by}")
    return Done(f"{case.reference} received on {day}", case, undo)


def _law(session: Session, ctx: Context, cmd: Command) -> Done:
    case = _message_case(session, ctx)
    if case.is_review:
        msg = f"{case.reference} is a review: its law follows the original request"
        raise Refused(msg)
    undo = snapshot(session, [case], ctx.message)
    case.law = Law(cmd.args[0]).value
    add_event(session, case, kind="law_changed", on=_zone_day(ctx, ctx.now), now=ctx.now,
              reasons=[f"handled under {case.law} (decided by {ctx.by})"])
    refresh_deadline(session, case, ctx.services.calendars, now=ctx.now,
                     cause=f"law changed by {ctx.by}")
    return Done(f"{case.reference} now under {case.law}", case, undo)


def _accept_sender(session: Session, ctx: Context, _cmd: Command) -> Done:
    case = _message_case(session, ctx)
    row = _message(ctx)
    undo = snapshot(session, [case], row)
    put_state(session, f"accepted_sender:{case.reference}",
              {"email": row.from_email, "by": ctx.by}, ctx.now)
    add_event(session, case, kind="sender_accepted", on=_zone_day(ctx, ctx.now), now=ctx.now,
              message_pk=row.id, reasons=[f"{row.from_email} may act on the case ({ctx.by})"])
    return Done(f"{row.from_email} accepted on {case.reference}", case, undo)


def _send(session: Session, ctx: Context, _cmd: Command) -> Done:
    case = _message_case(session, ctx)
    undo = snapshot(session, [case], ctx.message)
    queued = letter_queued(session, case)
    done = Done(send_held(session, ctx.services, case, ctx.now), case, undo)
    if not queued and letter_queued(session, case):
        # A letter that went cannot be recalled: undoing this must not put the hold back.
        done.undo = {"sent": held_letter_key(case)}
    return done


def _resume(session: Session, ctx: Context, cmd: Command) -> Done:
    if not breaker.resume(session, cmd.args[0], ctx.now):
        msg = f"letters to {cmd.args[0]} were not stopped"
        raise Refused(msg)
    return Done(f"letters to {cmd.args[0]} resume", None, {})


_HANDLERS = {
    "new": _new, "link": _link, "review": _review, "not_foi": _set_aside, "ignore": _set_aside,
    "close": _close_cmd, "reopen": _reopen, "merge": _merge, "received": _received,
    "law": _law, "withdrawn": _withdrawn, "accept_sender": _accept_sender, "send": _send,
    "resume_replies": _resume,
}

__all__ = ["MERGED_PREFIX", "Context", "Done", "Refused", "perform", "received_on"]
