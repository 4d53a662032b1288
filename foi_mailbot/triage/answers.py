"""The answer to a command by reply: what was done and how to undo it, or why nothing was.

One mail per command message, to whoever sent it (to the team when it was sent as the shared
mailbox), through the outbox (`triage:reply:<message>`), so it goes exactly once. A reply that
names one item is answered under that item's tag, so that answering the answer (`undo`, `send`)
names the item again. A reply to the daily summary that names several items gets one answer,
a paragraph per line, each with its own `undo` line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from foi_mailbot.cases.service import Services
from foi_mailbot.outbound.outbox import enqueue
from foi_mailbot.outbound.staff_mail import staff_message
from foi_mailbot.storage.models import InboundMessage, TriageItem
from foi_mailbot.triage import items
from foi_mailbot.triage.actions import Done
from foi_mailbot.triage.commands import help_text
from foi_mailbot.triage.items import team_address


@dataclass(frozen=True)
class Answered:
    """What one command line did to its item, and what its sender is told about it."""

    line: str
    item: TriageItem | None  # None: refused before any item was touched
    answer: str  # "done", "not done", "not understood"; "" when refused
    text: tuple[str, ...]
    effect: str  # as recorded on the message


def refused(line: str, why: str) -> Answered:
    """A line not applied to any item: who sent it, or the token it names, does not allow it."""
    return Answered(line, None, "", (why,), why)


def done(line: str, item: TriageItem, what: Done) -> Answered:
    """A command applied: its effect, the case's state and due date, the held letter, the undo."""
    lines = [f"Done: {what.effect}"]
    if what.case is not None:
        lines += ["", f"Case {what.case.reference} is now {what.case.status.replace('_', ' ')}, "
                  f"due {what.case.due_on or '(no date)'}.", "Why that date:"]
        lines += [f"  {why}" for why in (what.case.deadline or {}).get("explanation", [])]
    if what.held is not None:
        lines += ["", "Nothing was sent to the requester. Why the letter is held:",
                  *[f"  - {why.strip()}" for why in what.held.split(";")], "",
                  "To send it now, reply to this message with:", "", "  send"]
    if "sent" in what.undo:
        lines += ["", "A letter that has gone cannot be recalled: there is nothing to undo."]
    elif item.undo is not None:
        lines += ["", "To undo it, reply with:", "", f"  undo {item.token}"]
    return Answered(line, item, "done", tuple(lines), f"command applied: {what.effect}")


def not_done(line: str, item: TriageItem, why: str) -> Answered:
    """A command refused as written: nothing was changed."""
    return Answered(line, item, "not done", (f"Not done: {why}", "", "Nothing was changed."),
                    f"command refused: {why}")


def not_understood(line: str, item: TriageItem) -> Answered:
    """A line naming an item with no command we understand."""
    return Answered(line, item, "not understood",
                    (f'"{line}" is not a command. These are understood:', "", help_text()),
                    "command not understood; the sender was told what is")


def answer_one(session: Session, services: Services, row: InboundMessage, sender: str,
               answered: Answered, now: datetime) -> None:
    """Answer a reply that named one item, under that item's tag."""
    assert answered.item is not None  # noqa: S101 - a refused line is flagged, not answered
    # Only this item's tag: after `undo` the command's own subject still bears the old token,
    # and a reply quoting two tokens would be refused.
    subject = f"{items.tag(answered.item.token)} {answered.answer}: {_about(row)}"
    _send(session, services, row, sender, subject, "\n".join(answered.text), now)


def answer_many(session: Session, services: Services, row: InboundMessage, sender: str,
                answered: list[Answered], repeated: list[str], now: datetime) -> None:
    """Answer a reply that named several items: a paragraph per line, in its order."""
    applied = sum(a.answer == "done" for a in answered)
    lines = [f"{len(answered)} items named: {applied} done, {len(answered) - applied} not done.",
             ""]
    for one in answered:
        lines += [one.line, *[f"    {text}" if text else "" for text in _said(one)], ""]
    if any(one.answer == "not understood" for one in answered):
        lines += ["These commands are understood:", "", help_text(), ""]
    if repeated:
        lines += ["Named again, and not read (each item is settled by its first line):",
                  *[f"    {line}" for line in repeated], ""]
    subject = f"FOI triage: {applied} done, {len(answered) - applied} not done: {_about(row)}"
    _send(session, services, row, sender, subject, "\n".join(lines).rstrip(), now)


def _said(answered: Answered) -> tuple[str, ...]:
    if answered.item is None:
        return (f"Not applied: {answered.effect}",)
    if answered.answer == "not understood":
        return ("Not understood: the commands understood are listed below.",)
    return answered.text


def _about(row: InboundMessage) -> str:
    return items.untagged(row.subject or "")


def _recipient(services: Services, sender: str) -> str:
    org = services.settings.organisation
    ours = {a.lower() for a in org.all_mailbox_addresses()}
    # Commands written as the shared mailbox itself are confirmed to the team, never to us.
    return team_address(services) if sender.lower() in ours or "@" not in sender else sender


def _send(session: Session, services: Services, row: InboundMessage, sender: str,
          subject: str, text: str, now: datetime) -> None:
    to = _recipient(services, sender)
    org = services.settings.organisation
    body = f"{text}\n\n-- \n{org.name} FOI mailbox (automatic confirmation)\n"
    message, message_id = staff_message(services.settings, to=to, subject=subject.strip()[:250],
                                        text=body, html=None, now=now)
    enqueue(session, key=f"triage:reply:{row.id}", message=message, message_id=message_id,
            to_email=to, purpose="triage_confirmation", now=now, caused_by=row.id,
            automatic=False)


__all__ = ["Answered", "answer_many", "answer_one", "done", "not_done", "not_understood",
           "refused"]
