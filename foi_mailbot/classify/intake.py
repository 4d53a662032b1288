"""Classification rules for mail that starts no known case: copied mail, mail that is not an
FOI request, and the new-request fallback.

The fallback is deliberately generous: any written request for recorded information is an FOI
request (FOIA s.8; FOISA s.8), whether or not it names the Act, so `NotFoi` decides only on
clear wording and only when nothing in the message asks for information. Subject access
requests are the exception: a request for one's own personal data runs under UK GDPR with its
own one-month clock, so it is set aside and flagged. A new request is put under the EIR when it
is about environmental matters (EIR reg 2(1)); the reason names the words that decided.
"""

from __future__ import annotations

from foi_mailbot.classify.base import ClassifyContext, Kind, Verdict
from foi_mailbot.classify.correspondence import Finding, is_forward
from foi_mailbot.classify.phrases import (
    ENVIRONMENTAL,
    ENVIRONMENTAL_WEAK,
    FOI_WORDING,
    NOT_FOI,
    SUBJECT_ACCESS,
    matches,
)
from foi_mailbot.deadlines.laws import Law
from foi_mailbot.parsing.folding import Folded, headed
from foi_mailbot.parsing.parsed import ParsedMail


def _quoted(phrases: list[str]) -> str:
    return ", ".join(f"'{p}'" for p in phrases)


def _written(mail: ParsedMail) -> Folded:
    """Subject and new text, folded; the whole body for forwards or when nothing is new."""
    forwarded = is_forward(mail.subject)
    return headed(mail, "new_text" if mail.new_text.strip() and not forwarded else "text")


class CopiedOnly:
    """See `Rule`: our mailbox is only copied in (Cc), not addressed (To)."""

    name = "copied_only"

    def check(self, mail: ParsedMail, ctx: ClassifyContext) -> Verdict | None:
        ours = {a.lower() for a in ctx.mailbox_addresses}
        if any(a.email in ours for a in mail.to):
            return None
        copied = sorted(a.email for a in mail.cc if a.email in ours)
        if not copied:
            return None
        return Verdict(
            kind=Kind.COPIED,
            reasons=(f"Our mailbox {copied[0]} is only in Cc, not in To: we were copied in.",),
        )


class NotFoi:
    """See `Rule`: a subject access request, or plainly other business with no FOI wording."""

    name = "not_foi"

    def check(self, mail: ParsedMail, ctx: ClassifyContext) -> Verdict | None:
        text = _written(mail)
        own_data = matches(text, SUBJECT_ACCESS)
        if own_data:
            reasons = (
                f"It asks for the sender's own personal data ({_quoted(own_data)}): a subject "
                "access request under UK GDPR Art 15, which has its own one-month clock.",
            )
            return Finding(Kind.NOT_FOI, reasons, flags=("subject_access",))
        other = matches(text, (*NOT_FOI, *ctx.extra_not_foi_phrases))
        if not other or matches(text, FOI_WORDING):
            return None
        reasons = (
            f"It reads as other business ({_quoted(other)}) and asks for no recorded information.",
        )
        return Finding(Kind.NOT_FOI, reasons)


def environmental_words(text: str | Folded, extra: tuple[str, ...] = ()) -> list[str]:
    """The environmental words that put a request under the EIR, or [] when too few match."""
    strong = matches(text, (*ENVIRONMENTAL, *extra))
    weak = [w for w in matches(text, ENVIRONMENTAL_WEAK) if not any(w in s for s in strong)]
    if strong:
        return strong + weak
    return weak if len(weak) >= 2 else []


class NewRequest:
    """See `Rule`: the fallback; always matches. Environmental requests fall under the EIR."""

    name = "new_request"

    def check(self, mail: ParsedMail, ctx: ClassifyContext) -> Verdict | None:
        found = environmental_words(_written(mail), ctx.extra_environmental_phrases)
        opening = "No earlier rule matched: a written request for information is an FOI request."
        if found:
            law_reason = (
                f"It is about environmental matters ({_quoted(found)}), so the Environmental "
                "Information Regulations apply (reg 2(1))."
            )
            return Finding(Kind.NEW_REQUEST, (opening, law_reason), law=Law.EIR)
        law_reason = "No environmental wording was found, so FOIA applies."
        return Finding(Kind.NEW_REQUEST, (opening, law_reason), law=Law.FOIA)
