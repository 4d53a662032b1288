"""Classification rules for mail that starts no known case: copied mail, mail that is not an
FOI request, new requests, and the last rule for mail that asks for nothing.

Any written request for recorded information is an FOI request (FOIA s.8; FOISA s.8), whether
or not it names the Act; but a new request needs evidence that it asks for information (a
request verb, a question, numbered questions, or the Acts named). Mail that asks for nothing
(complaints, objections, invoices, newsletters) is not an FOI request and goes to a person
unanswered. When in doubt a message that asks stays a request: losing a request is worse than
a false case, so other business decides only where nothing strongly asks. Credential phishing
decides whatever it says. Subject access requests are set apart whatever they are called: a
request for one's own personal data runs under UK GDPR Art 15 with its own one-month clock.
A new request is put under the EIR when it is about environmental matters (EIR reg 2(1)); the
reason names the words that decided.
"""

from __future__ import annotations

from foi_mailbot.classify.base import ClassifyContext, Kind, Verdict
from foi_mailbot.classify.correspondence import Finding, is_forward
from foi_mailbot.classify.phrases import (
    ENVIRONMENTAL,
    ENVIRONMENTAL_WEAK,
    NOT_FOI,
    SUBJECT_ACCESS,
    matches,
)
from foi_mailbot.classify.request_phrases import (
    ASK_STRONG,
    ASK_WEAK,
    ENVIRONMENTAL_MORE,
    OTHER_BUSINESS,
    PHISHING,
    SUBJECT_ACCESS_MORE,
    numbered,
)
from foi_mailbot.deadlines.laws import Law
from foi_mailbot.parsing.folding import Folded, FoldedMail
from foi_mailbot.parsing.parsed import ParsedMail


def _quoted(phrases: list[str]) -> str:
    return ", ".join(f"'{p}'" for p in phrases)


def _written(mail: ParsedMail, folded: FoldedMail) -> Folded:
    """Subject and new text, folded; the whole body for forwards or when nothing is new."""
    if mail.new_text.strip() and not is_forward(mail.subject):
        return folded.subject_new_text
    return folded.subject_text


class CopiedOnly:
    """See `Rule`: our mailbox is only copied in (Cc), not addressed (To)."""

    name = "copied_only"

    def check(self, mail: ParsedMail, folded: FoldedMail, ctx: ClassifyContext) -> Verdict | None:
        ours = {a.lower() for a in ctx.mailbox_addresses}
        if any(a.email in ours for a in mail.to):
            return None
        copied = sorted(a.email for a in mail.cc if a.email in ours)
        if not copied:
            return None
        ask = _addressed_to_us(mail, folded, ctx)
        if ask:
            # Addressed to someone at the authority: a request received by the authority.
            return None
        return Verdict(
            kind=Kind.COPIED,
            reasons=(f"Our mailbox {copied[0]} is only in Cc, not in To: we were copied in.",),
        )


def _addressed_to_us(mail: ParsedMail, folded: FoldedMail, ctx: ClassifyContext) -> list[str]:
    """Who at the authority the message is addressed to, when it asks for information."""
    domains = {a.rpartition("@")[2] for a in ctx.mailbox_addresses} | {
        d.lower().strip(".") for d in ctx.staff_domains}
    people = [a.email for a in mail.to
              if any(a.domain == d or a.domain.endswith(f".{d}") for d in domains)]
    if not people:
        return []
    strong, weak = asks(mail, folded)
    return people if strong or weak else []


# Numbered questions come early in a request; a long message is not read to its end for them.
_LIST_CHARS = 10_000


def asks(mail: ParsedMail, folded: FoldedMail) -> tuple[list[str], list[str]]:
    """The wording that asks for information: (strong, weak)."""
    text = _written(mail, folded)
    strong = matches(text, ASK_STRONG)
    weak = matches(text, ASK_WEAK)
    body = mail.new_text if mail.new_text.strip() else mail.text
    if numbered(body[:_LIST_CHARS]):
        weak.append("numbered questions")
    if "?" in body:
        weak.append("a question mark")
    return strong, weak


class NotFoi:
    """See `Rule`: a subject access request, phishing, or plainly other business that does not
    also ask for information."""

    name = "not_foi"

    def check(self, mail: ParsedMail, folded: FoldedMail, ctx: ClassifyContext) -> Verdict | None:
        text = _written(mail, folded)
        own_data = matches(text, (*SUBJECT_ACCESS, *SUBJECT_ACCESS_MORE))
        if own_data:
            reasons = (
                f"It asks for the sender's own personal data ({_quoted(own_data)}): a subject "
                "access request under UK GDPR Art 15, whatever it is called, with its own "
                "one-month clock.",
            )
            return Finding(Kind.NOT_FOI, reasons, law=Law.SAR, flags=("subject_access",))
        scam = matches(text, PHISHING)
        if scam:
            reasons = (f"It reads as credential phishing ({_quoted(scam)}); never answered.",)
            return Finding(Kind.NOT_FOI, reasons, flags=("phishing",))
        other = matches(text, (*NOT_FOI, *OTHER_BUSINESS, *ctx.extra_not_foi_phrases))
        if not other:
            return None
        strong, _weak = asks(mail, folded)
        if strong:
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
    """See `Rule`: mail that asks for information. Environmental requests fall under the EIR."""

    name = "new_request"

    def check(self, mail: ParsedMail, folded: FoldedMail, ctx: ClassifyContext) -> Verdict | None:
        strong, weak = asks(mail, folded)
        if not strong and not weak:
            return None
        found = environmental_words(
            _written(mail, folded), (*ENVIRONMENTAL_MORE, *ctx.extra_environmental_phrases))
        opening = (f"It asks for information ({_quoted((strong + weak)[:4])}): a written "
                   "request for information is an FOI request.")
        if found:
            law_reason = (
                f"It is about environmental matters ({_quoted(found)}), so the Environmental "
                "Information Regulations apply (reg 2(1))."
            )
            return Finding(Kind.NEW_REQUEST, (opening, law_reason), law=Law.EIR)
        law_reason = "No environmental wording was found, so FOIA applies."
        return Finding(Kind.NEW_REQUEST, (opening, law_reason), law=Law.FOIA)


class NothingAsked:
    """See `Rule`: the last rule; always matches. Mail that asks for nothing is not a request."""

    name = "nothing_asked"

    def check(self, mail: ParsedMail, folded: FoldedMail, ctx: ClassifyContext) -> Verdict | None:
        reasons = (
            "It asks for no recorded information (no request wording, question or numbered "
            "questions): not an FOI request; a person should read it.",
        )
        return Finding(Kind.NOT_FOI, reasons)
