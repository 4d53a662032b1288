"""Classification rule for follow-ups that do not thread: a chaser, a reply to a staff member's
own email, "further to my request", a reply whose thread we never saw.

A follow-up must never open a second case and send a second acknowledgement. Mail is a
follow-up when it is reply-shaped (a `Re:`/`AW:`/`Antw:` subject, In-Reply-To or References,
quoted history, follow-up wording) and something ties it to earlier business with us: the
sender has an open case, it quotes a reference (ours, in any part; or another system's, in a
labelled place), it replies to a Message-ID of the shape we mint at our domain, or its quoted
history is mail to or from us. It is then correspondence (`clarification`); with no reference
of ours it is flagged for a person to say which case. A reference found only in quoted text
is a guess, never proof.
"""

from __future__ import annotations

import re
from typing import Final

from foi_mailbot.classify.base import ClassifyContext, Kind, Verdict
from foi_mailbot.classify.correspondence import Finding, is_forward
from foi_mailbot.classify.phrases import matches
from foi_mailbot.classify.references import other_references
from foi_mailbot.classify.request_phrases import FOLLOW_UP, OUR_LETTER
from foi_mailbot.parsing.folding import FoldedMail
from foi_mailbot.parsing.parsed import ParsedMail

_REPLY_SUBJECT: Final = re.compile(r"^\s*(?:re|aw|antw|sv|vs|odp|r)\s*:", re.IGNORECASE)
_MINTED: Final = re.compile(r"^[0-9a-f]{32}@(.+)$")
# Where quoted history starts in the text, as mail programs write it.
# Each opens a line: the pattern reads "\n" first (see `quote_start`), which `re` skips to,
# where "^" in multi-line mode would be tried at every position.
_QUOTE_MARKS: Final = re.compile(
    r"\n(?:>|-{3,}\s*(?:original message|urspr\S*ngliche nachricht|forwarded message)"
    r"|_{10,}|on .{6,80} wrote:|w dniu .{4,60} pisze:|von:|from:\s.+\n(?:sent|date|gesendet):"
    r"|>>> )",
    re.IGNORECASE,
)
# Wording that says the writer made a request before: ties on its own, reply-shaped or not.
_OWN_REQUEST: Final = (
    "further to my request",
    "my request of",
    "my previous request",
    "my original request",
    "my earlier request",
    "i made a request",
    "the request i made",
    "any news on my request",
    "my request below",
)


def _quoted(phrases: list[str]) -> str:
    return ", ".join(f"'{p}'" for p in phrases)


def quote_start(text: str) -> int | None:
    """Where quoted history starts in a text, or None."""
    found = _QUOTE_MARKS.search(f"\n{text}")
    return None if found is None else found.start()


def reply_signs(mail: ParsedMail, folded: FoldedMail) -> list[str]:
    """Why the message reads as a reply or a follow-up; [] when it does not."""
    signs: list[str] = []
    if _REPLY_SUBJECT.match(mail.subject):
        signs.append(f"its subject '{mail.subject.strip()[:60]}' marks a reply")
    elif is_forward(mail.subject):
        signs.append("it forwards earlier mail")
    if mail.in_reply_to or mail.references:
        signs.append("it replies to a message (In-Reply-To/References) we have not stored")
    if quote_start(mail.text) is not None:
        signs.append("it quotes earlier mail")
    said = matches(folded.new_text, FOLLOW_UP)
    if said:
        signs.append(f"it says it follows up ({_quoted(said)})")
    return signs


def _ours(ctx: ClassifyContext) -> tuple[set[str], set[str]]:
    """Our mailbox addresses and our domains (mailbox and staff)."""
    addresses = {a.lower() for a in ctx.mailbox_addresses}
    domains = {a.rpartition("@")[2] for a in addresses} | {d.lower() for d in ctx.staff_domains}
    return addresses, domains


def _ties(
    mail: ParsedMail, folded: FoldedMail, ctx: ClassifyContext, forward: bool
) -> list[str]:
    """What ties the message to earlier business with us."""
    ties: list[str] = []
    if ctx.sender_open_cases and not forward:
        ties.append(f"the sender has an open case ({', '.join(ctx.sender_open_cases[:3])})")
    addresses, domains = _ours(ctx)
    minted = [m.group(1) for i in mail.thread_ids if (m := _MINTED.match(i.lower()))]
    if any(d in domains for d in minted):
        ties.append("it replies to a Message-ID of the kind we give our own mail")
    quote = quote_start(mail.text)
    if quote is not None and not forward:
        history = mail.text[quote:].lower()
        if any(a in history for a in addresses) or any(f"@{d}" in history for d in domains):
            ties.append("its quoted history is mail to or from us")
    letter = matches(folded.text, OUR_LETTER)
    if letter:
        ties.append(f"it quotes our letter ({_quoted(letter)})")
    own = matches(folded.new_text, _OWN_REQUEST)
    if own:
        ties.append(f"the writer says they made a request before ({_quoted(own)})")
    return ties


class FollowUp:
    """See `Rule`: reply-shaped mail tied to earlier business with us, not to a known case."""

    name = "follow_up"

    def check(self, mail: ParsedMail, folded: FoldedMail, ctx: ClassifyContext) -> Verdict | None:
        forward = is_forward(mail.subject)
        signs = reply_signs(mail, folded)
        own = matches(folded.subject_new_text, _OWN_REQUEST)
        if not signs and not own:
            return None
        ties = _ties(mail, folded, ctx, forward)
        found = ctx.find_references(f"{mail.subject}\n{mail.text}")
        valid = [f for f in found if f.valid]
        others = other_references(mail.subject, mail.new_text, {f.text.upper() for f in found})
        if valid:
            ties.append(f"it quotes our reference {valid[0].reference} (in quoted text or a "
                        "forward: a person should confirm)")
        elif others:
            ties.append(f"it quotes a reference of another system, {others[0].text}")
        if not ties:
            return None
        reasons = [
            f"It is a follow-up: {'; '.join(signs or ['it refers to an earlier request'])}.",
            f"It is tied to earlier business with us: {'; '.join(ties)}.",
            "A follow-up is correspondence, never a second request.",
        ]
        flags: tuple[str, ...] = ()
        reference = valid[0].reference if valid else None
        if reference is None:
            flags = ("which_case",)
            reasons.append("It quotes none of our references: a person must say which case.")
        return Finding(Kind.CLARIFICATION, tuple(reasons), reference=reference, flags=flags)
