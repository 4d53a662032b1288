"""Commands by reply: which messages are commands, who may give them, and settling an item.

A message is taken as a command when it quotes an item's token, or when its first lines hold a
command and it comes from the Sent folder, a staff address, or answers one of our letters. It
is applied only when all of this holds: it is in the Sent folder (only the mailbox's users can
put mail there), or it is from a staff address whose DMARC pass our own server vouched for
(`cases.senders`); it quotes the token of one open item, and no other. Our letters' Message-IDs
are not secrets and authorise nothing. Anything else is flagged for a person, never applied.
Applying, settling, the audit entry and the confirmation are one transaction: a crash before it
commits applies nothing, after it the confirmation is in the outbox exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from foi_mailbot.cases.senders import Dmarc, dmarc_verdict, is_staff_address
from foi_mailbot.cases.service import Services
from foi_mailbot.classify import is_automatic
from foi_mailbot.classify.base import ClassifyContext
from foi_mailbot.outbound.outbox import enqueue
from foi_mailbot.outbound.staff_mail import staff_message
from foi_mailbot.parsing.parsed import ParsedMail
from foi_mailbot.storage import queries
from foi_mailbot.storage.models import Case, InboundMessage, OutboxMessage, TriageItem
from foi_mailbot.triage import items
from foi_mailbot.triage.actions import Context, Refused, perform
from foi_mailbot.triage.commands import Command, Unknown, help_text, parse_reply
from foi_mailbot.triage.items import team_address
from foi_mailbot.triage.undo import restore

RULE = "triage_command"


@dataclass(frozen=True)
class Incoming:
    """A message read as a command: what it says, the tokens it quotes, and who sent it."""

    said: Command | Unknown
    tokens: frozenset[str]
    via: str | None  # "the Sent folder", "staff mail vouched for by our server"; None: neither


def command_in(session: Session, row: InboundMessage, mail: ParsedMail,
               context: ClassifyContext) -> Incoming | None:
    """The command in a message, or None when it is ordinary mail.

    Automatic mail (an out-of-office quoting a confirmation's subject, a bounce) is never a
    command: answering it could start a loop, so the loop guards see it first.
    """
    trust = context.trust
    text = mail.new_text or mail.text
    tokens = frozenset(t.lower() for t in items.TOKEN_RE.findall(f"{mail.subject}\n{text}"))
    said = parse_reply(text)
    if not tokens and not isinstance(said, Command):
        return None  # ordinary mail, nearly all of it: told without the database
    staff = is_staff_address(mail.from_addr, trust)
    if not tokens:
        answers_us = any(queries.is_our_message_id(session, m) for m in mail.in_reply_to)
        if not (row.direction == "sent" or staff or answers_us):
            return None
    if is_automatic(mail, context):
        return None
    via = None
    if row.direction == "sent":
        via = "the Sent folder"
    elif staff and dmarc_verdict(mail, trust) is Dmarc.PASS:
        via = "staff mail vouched for by our server"
    return Incoming(said, tokens, via)


def settle(session: Session, services: Services, row: InboundMessage, mail: ParsedMail,
           incoming: Incoming, now: datetime) -> str:
    """Apply an authorised command to its item, or flag the message; returns the effect."""
    row.kind, row.rule = "staff", RULE
    sender = mail.from_addr.email if mail.from_addr else "(no sender)"
    refusal, item = _authorise(session, row, mail, incoming)
    if refusal is not None or item is None:
        return _flag(row, refusal or "no item")
    by = f"{sender} via {incoming.via}"
    if isinstance(incoming.said, Unknown):
        _reply(session, services, row, sender, item,
               f'"{incoming.said.line}" is not a command. These are understood:\n\n'
               f"{help_text()}", now, "not understood")
        return "command not understood; the sender was told what is"
    command = incoming.said
    try:
        effect, case = _apply(session, services, item, command, by, now)
    except Refused as exc:
        _reply(session, services, row, sender, item, f"Not done: {exc}\n\nNothing was changed.",
               now, "not done")
        return f"command refused: {exc}"
    row.resolved_at = now
    _confirm(session, services, row, sender, item, effect, case, now)
    return f"command applied: {effect}"


def _authorise(  # noqa: PLR0911 - one early return per reason a command is refused
    session: Session, row: InboundMessage, mail: ParsedMail, incoming: Incoming
) -> tuple[str | None, TriageItem | None]:
    if incoming.via is None:
        return ("a command from someone who may not give one (not in the Sent folder, not "
                "vouched-for staff mail); not applied", None)
    if not incoming.tokens:
        return "a command without an item's token; not applied", None
    if len(incoming.tokens) > 1:
        return "a command quoting the tokens of more than one item; not applied", None
    token = next(iter(incoming.tokens))
    item = items.by_token(session, token)
    if item is None:
        return "a command with a token that is no item's; not applied", None
    if _answers_another_item(session, mail, token):
        return "a command with the token of another item than the notice it answers", None
    if item.settled_at is not None and not _is_undo_of(incoming.said, item):
        if queries.same_message_applied(session, row.id, row.message_id, row.from_email):
            return "a second copy of a command already applied", None
        return "a command with a token already used (replayed?); not applied", None
    if item.message_pk == row.id:
        return "a command about itself", None
    return None, item


def _answers_another_item(session: Session, mail: ParsedMail, token: str) -> bool:
    if not mail.in_reply_to:
        return False
    # Only a notice's key names its item: a confirmation, the daily summary and the reminder
    # name none, and answering them with the token they quote is what they ask for.
    keys = session.scalars(select(OutboxMessage.key).where(
        OutboxMessage.message_id.in_(list(mail.in_reply_to)),
        OutboxMessage.key.like("triage:%:notice"))).all()
    return any(token not in key for key in keys)


def _is_undo_of(said: Command | Unknown, item: TriageItem) -> bool:
    return isinstance(said, Command) and said.verb == "undo" and said.args[0] == item.token


def _apply(session: Session, services: Services, item: TriageItem, command: Command, by: str,
           now: datetime) -> tuple[str, Case | None]:
    if command.verb == "undo":
        if item.settled_at is None or item.undo is None:
            msg = "there is nothing to undo on this item"
            raise Refused(msg)
        put_back = restore(session, item.undo, now, by=by)
        token = items.reopen(item)
        return (f"undone: {'; '.join(put_back) or 'nothing had changed'}; the item is open again "
                f"as {items.tag(token)}", None)
    done = perform(session, Context(services, now, by, item.message), command)
    items.settle(item, by=by, command=command.line or command.verb, now=now, undo=done.undo)
    return done.effect, done.case


def _flag(row: InboundMessage, why: str) -> str:
    row.needs_person = True
    row.attention_reason = why
    return f"flagged: {why}"


def _recipient(services: Services, sender: str) -> str:
    org = services.settings.organisation
    ours = {a.lower() for a in org.all_mailbox_addresses()}
    # Commands written as the shared mailbox itself are confirmed to the team, never to us.
    return team_address(services) if sender.lower() in ours or "@" not in sender else sender


def _confirm(session: Session, services: Services, row: InboundMessage, sender: str,
             item: TriageItem, effect: str, case: Case | None, now: datetime) -> None:
    lines = [f"Done: {effect}", ""]
    if case is not None:
        lines += [f"Case {case.reference} is now {case.status.replace('_', ' ')}, due "
                  f"{case.due_on or '(no date)'}.", "Why that date:"]
        lines += [f"  {line}" for line in (case.deadline or {}).get("explanation", [])]
    if item.settled_at is not None:
        lines += ["", "To undo it, reply with:", "", f"  undo {item.token}"]
    _reply(session, services, row, sender, item, "\n".join(lines), now, "done")


def _reply(session: Session, services: Services, row: InboundMessage, sender: str,
           item: TriageItem, text: str, now: datetime, what: str) -> None:
    to = _recipient(services, sender)
    org = services.settings.organisation
    body = f"{text}\n\n-- \n{org.name} FOI mailbox (automatic confirmation)\n"
    # Only this item's tag: after `undo` the command's own subject still bears the old token,
    # and a reply quoting two tokens would be refused.
    subject = f"{items.tag(item.token)} {what}: {items.untagged(row.subject or '')}".strip()[:250]
    message, message_id = staff_message(services.settings, to=to, subject=subject, text=body,
                                        html=None, now=now)
    enqueue(session, key=f"triage:reply:{row.id}", message=message, message_id=message_id,
            to_email=to, purpose="triage_confirmation", now=now, caused_by=row.id,
            automatic=False)


__all__ = ["RULE", "Incoming", "command_in", "settle"]
