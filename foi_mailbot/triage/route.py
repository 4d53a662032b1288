"""Commands by reply: which messages are commands, who may give them, and settling items.

A message is taken as a command when it quotes an item's token, or when its first lines hold a
command and it comes from the Sent folder, a staff address, or answers one of our letters. It
is applied only when all of this holds: it is in the Sent folder (only the mailbox's users can
put mail there), or it is from a staff address whose DMARC pass our own server vouched for
(`cases.senders`); it quotes the token of one open item, and no other. Our letters' Message-IDs
are not secrets and authorise nothing. Anything else is flagged for a person, never applied.

A reply to the daily summary names its items line by line (`<token> not foi`): each line is a
command on the item it names, under the same rules, each item once; the quoted summary, which
names them all, is not read. Applying, settling, the audit entries and the one answer are one
transaction: a crash before it commits applies nothing, after it the answer is in the outbox
exactly once.
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
from foi_mailbot.parsing.parsed import ParsedMail
from foi_mailbot.storage import queries
from foi_mailbot.storage.models import InboundMessage, OutboxMessage, TriageItem
from foi_mailbot.triage import answers, items
from foi_mailbot.triage.actions import Context, Done, Refused, perform
from foi_mailbot.triage.answers import Answered
from foi_mailbot.triage.commands import (
    Command,
    Unknown,
    holds_token_shape,
    named_lines,
    parse_reply,
)
from foi_mailbot.triage.undo import restore, sent_letter

RULE = "triage_command"


Said = Command | Unknown


@dataclass(frozen=True)
class Incoming:
    """A message read as a command: what it says, the tokens it quotes, who sent it, and the
    lines that name their item by its token (a reply to the daily summary)."""

    said: Said
    tokens: frozenset[str]
    via: str | None  # "the Sent folder", "staff mail vouched for by our server"; None: neither
    named: tuple[tuple[str, Said], ...] = ()


def command_in(session: Session, row: InboundMessage, mail: ParsedMail,
               context: ClassifyContext) -> Incoming | None:
    """The command in a message, or None when it is ordinary mail.

    Automatic mail (an out-of-office quoting a confirmation's subject, a bounce) is never a
    command: answering it could start a loop, so the loop guards see it first.
    """
    trust = context.trust
    text = mail.new_text or mail.text
    named: tuple[tuple[str, Said], ...] = ()
    tokens: frozenset[str] = frozenset()
    if holds_token_shape(f"{mail.subject}\n{text}"):
        named = tuple(named_lines(text))
        tokens = frozenset(t.lower() for t in items.TOKEN_RE.findall(f"{mail.subject}\n{text}"))
        tokens |= {token for token, _ in named}
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
    return Incoming(said, tokens, via, named)


def settle(session: Session, services: Services, row: InboundMessage, mail: ParsedMail,
           incoming: Incoming, now: datetime) -> str:
    """Apply an authorised command to each item it names, or flag the message; returns the
    effect."""
    row.kind, row.rule = "staff", RULE
    sender = mail.from_addr.email if mail.from_addr else "(no sender)"
    if incoming.via is None:
        return _flag(row, "a command from someone who may not give one (not in the Sent "
                     "folder, not vouched-for staff mail); not applied")
    lines, repeated = _lines(incoming)
    if isinstance(lines, str):
        return _flag(row, lines)
    by = f"{sender} via {incoming.via}"
    done = [_settle_line(session, services, row, mail, token, said, by, now)
            for token, said in lines]
    if all(one.item is None for one in done):
        return _flag(row, "; ".join(dict.fromkeys(one.effect for one in done)))
    if any(one.answer == "done" for one in done):
        row.resolved_at = now
    if len(done) == 1:
        answers.answer_one(session, services, row, sender, done[0], now)
        return done[0].effect
    answers.answer_many(session, services, row, sender, done, repeated, now)
    return f"commands on {len(done)} items: " + "; ".join(
        f"{one.line[:60]}: {one.effect}" for one in done)


def _lines(incoming: Incoming) -> tuple[list[tuple[str, Said]] | str, list[str]]:
    """The (token, command) pairs to apply, each item once, and the lines naming one again;
    or why the message names no single item."""
    if incoming.named:
        first: dict[str, Said] = {}
        repeated = []
        for token, said in incoming.named:
            if token in first:
                repeated.append(said.line)
            else:
                first[token] = said
        return list(first.items()), repeated
    if not incoming.tokens:
        return "a command without an item's token; not applied", []
    if len(incoming.tokens) > 1:
        return "a command quoting the tokens of more than one item; not applied", []
    return [(next(iter(incoming.tokens)), incoming.said)], []


def _settle_line(session: Session, services: Services, row: InboundMessage, mail: ParsedMail,
                 token: str, said: Said, by: str, now: datetime) -> Answered:
    refusal, item = _authorise(session, row, mail, token, said)
    if refusal is not None or item is None:
        return answers.refused(said.line, refusal or "no item")
    if isinstance(said, Unknown):
        return answers.not_understood(said.line, item)
    try:
        done = _apply(session, services, item, said, by, now)
    except Refused as exc:
        return answers.not_done(said.line, item, str(exc))
    return answers.done(said.line, item, done)


def _authorise(session: Session, row: InboundMessage, mail: ParsedMail, token: str,
               said: Said) -> tuple[str | None, TriageItem | None]:
    item = items.by_token(session, token)
    if item is None:
        return "a command with a token that is no item's; not applied", None
    if _answers_another_item(session, mail, token):
        return "a command with the token of another item than the notice it answers", None
    if item.settled_at is not None and not _is_undo_of(said, item):
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


def _is_undo_of(said: Said, item: TriageItem) -> bool:
    return isinstance(said, Command) and said.verb == "undo" and said.args[0] == item.token


def _apply(session: Session, services: Services, item: TriageItem, command: Command, by: str,
           now: datetime) -> Done:
    if command.verb == "undo":
        return _undo(session, item, by, now)
    done = perform(session, Context(services, now, by, item.message), command)
    items.settle(item, by=by, command=command.line or command.verb, now=now, undo=done.undo)
    if done.held is not None:
        items.await_send(item.message, item, done.held)
    return done


def _undo(session: Session, item: TriageItem, by: str, now: datetime) -> Done:
    # An item kept open for `send` still holds what the command before it did.
    if item.undo is None:
        msg = "there is nothing to undo on this item"
        raise Refused(msg)
    gone = sent_letter(session, item.undo)
    if gone is not None:
        raise Refused(gone)
    put_back = restore(session, item.undo, now, by=by)
    token = items.reopen(item)
    return Done(f"undone: {'; '.join(put_back) or 'nothing had changed'}; the item is open "
                f"again as {items.tag(token)}")


def _flag(row: InboundMessage, why: str) -> str:
    row.needs_person = True
    row.attention_reason = why
    return f"flagged: {why}"


__all__ = ["RULE", "Incoming", "command_in", "settle"]
