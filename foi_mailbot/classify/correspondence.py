"""Classification rules for mail about work already under way: staff mail, and applicants'
replies on an existing case (clarifications and other correspondence).

A message belongs to a case when the caller found its thread (`ClassifyContext.thread_case`)
or when the subject or the new text quotes a reference whose check suffix is right. A mistyped
reference never links a message to a case; `classify` flags it for a person instead. This module
also holds `Finding`, the verdict with the extra facts (reference, law, flags) that the later
rules report.
"""

from __future__ import annotations

from dataclasses import dataclass

from foi_mailbot.cases.senders import is_staff_address
from foi_mailbot.classify.base import ClassifyContext, FoundRef, Kind, Verdict
from foi_mailbot.deadlines.laws import Law
from foi_mailbot.parsing.folding import FoldedMail
from foi_mailbot.parsing.parsed import ParsedMail

_FORWARD_PREFIXES = ("fw:", "fwd:", "fw :", "fwd :")


@dataclass(frozen=True)
class Finding(Verdict):
    """A Verdict with the case reference, law and flags the rule established."""

    reference: str | None = None
    law: Law | None = None
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class CaseLink:
    """How a message ties to a case: the reference, and the sentence saying how."""

    reference: str | None
    how: str


def quoted_references(mail: ParsedMail, ctx: ClassifyContext) -> list[FoundRef]:
    """References in the subject and the new text (quoted history is not read)."""
    return ctx.find_references(f"{mail.subject}\n{mail.new_text}")


def case_link(mail: ParsedMail, ctx: ClassifyContext) -> CaseLink:
    """The case this message is about, preferring a correct quoted reference to the thread's."""
    valid = [f for f in quoted_references(mail, ctx) if f.valid]
    if valid:
        how = f"It quotes the case reference {valid[0].reference}."
        if ctx.thread_case and ctx.thread_case != valid[0].reference:
            how += f" It also replies in the thread of case {ctx.thread_case}."
        return CaseLink(valid[0].reference, how)
    if ctx.thread_case:
        return CaseLink(ctx.thread_case, f"It replies in the thread of case {ctx.thread_case}.")
    return CaseLink(None, "")


def is_forward(subject: str) -> bool:
    """True when the subject says the message was forwarded."""
    return subject.strip().lower().startswith(_FORWARD_PREFIXES)


class StaffSender:
    """See `Rule`: mail from our own staff, or copied from our Sent folder."""

    name = "staff_sender"

    def check(self, mail: ParsedMail, ctx: ClassifyContext) -> Verdict | None:
        flags = ("forwarded_by_staff",) if is_forward(mail.subject) else ()
        if ctx.from_sent_folder:
            return Finding(Kind.STAFF, ("It was found in our Sent folder.",), flags=flags)
        if mail.from_addr is None:
            return None
        if not is_staff_address(mail.from_addr, ctx.trust):
            return None
        sender, domain = mail.from_addr.email, mail.from_addr.domain
        if sender in ctx.trust.staff_addresses:
            reason = f"The sender {sender} is on the staff list."
        else:
            reason = f"The sender {sender} is in the staff domain {domain}."
        return Finding(Kind.STAFF, (reason,), flags=flags)


class CaseCorrespondence:
    """See `Rule`: an applicant writing on an existing case (a clarification or other reply)."""

    name = "case_correspondence"

    def check(self, mail: ParsedMail, folded: FoldedMail, ctx: ClassifyContext) -> Verdict | None:
        link = case_link(mail, ctx)
        if link.reference is None:
            return None
        reasons = [link.how]
        if ctx.thread_case_is_review and link.reference == ctx.thread_case:
            reasons.append("The case is already under internal review.")
        reasons.append("Mail on an open case is correspondence on it, not a new request.")
        return Finding(Kind.CLARIFICATION, tuple(reasons), reference=link.reference)
