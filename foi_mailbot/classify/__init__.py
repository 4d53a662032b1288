"""Pipeline stage `classify.classify`: what a parsed message is, and why.

The rules run in the order of `RULES`, top to bottom: loop guards first (mail that must never
be answered), then staff mail, then mail on an existing case (a review request wins over other
correspondence), then copied mail, then mail that is not an FOI request, and last the
new-request fallback, which always matches. The first rule that decides wins; the result
records it, its reasons, and every rule passed over before it. Pure: no I/O, no clock.
"""

from __future__ import annotations

from typing import Final

from foi_mailbot.cases.senders import Dmarc, dmarc_verdict, unvouched_reason
from foi_mailbot.classify.base import Classification, ClassifyContext, Kind, Rule, Verdict
from foi_mailbot.classify.correspondence import (
    CaseCorrespondence,
    Finding,
    StaffSender,
    quoted_references,
)
from foi_mailbot.classify.intake import CopiedOnly, NewRequest, NotFoi
from foi_mailbot.classify.loop_guards import (
    AutoReplyHeaders,
    AutoSubmitted,
    BulkPrecedence,
    DaemonSender,
    DeliveryReport,
    HelpdeskText,
    ListMail,
    NullReturnPath,
    OutOfOfficeText,
    OwnMail,
)
from foi_mailbot.classify.review import ReviewRequest
from foi_mailbot.parsing.parsed import ParsedMail

STAFF_UNVOUCHED: Final = "staff_unvouched"
"""Flag: inbox mail from a staff address the receiving server did not vouch for."""

RULES: Final[tuple[Rule, ...]] = (
    OwnMail(), AutoSubmitted(), AutoReplyHeaders(), BulkPrecedence(), DeliveryReport(),
    NullReturnPath(), DaemonSender(), ListMail(), OutOfOfficeText(), HelpdeskText(),
    StaffSender(),
    ReviewRequest(), CaseCorrespondence(),
    CopiedOnly(), NotFoi(),
    NewRequest(),  # always matches
)


def classify(mail: ParsedMail, ctx: ClassifyContext) -> Classification:
    """Run the rules in order; the first that decides gives the kind, reasons and facts."""
    misses: list[str] = []
    for rule in RULES:
        verdict = rule.check(mail, ctx)
        if verdict is None:
            misses.append(rule.name)
            continue
        return _outcome(rule.name, verdict, tuple(misses), mail, ctx)
    msg = "the last rule, new_request, always matches"
    raise AssertionError(msg)


def _outcome(
    rule: str, verdict: Verdict, misses: tuple[str, ...], mail: ParsedMail, ctx: ClassifyContext
) -> Classification:
    reference = law = None
    flags: list[str] = []
    if isinstance(verdict, Finding):
        reference, law, flags = verdict.reference, verdict.law, list(verdict.flags)
    reasons = list(verdict.reasons)
    if verdict.kind is not Kind.AUTO_REPLY:
        flags += _attention_flags(mail, ctx, reasons)
    unvouched = verdict.kind is Kind.STAFF and not ctx.from_sent_folder
    if unvouched and dmarc_verdict(mail, ctx.trust) is not Dmarc.PASS:
        flags.append(STAFF_UNVOUCHED)
        reasons.append(unvouched_reason(ctx.trust))
    return Classification(
        kind=verdict.kind,
        rule=rule,
        reasons=tuple(reasons),
        misses=misses,
        reference=reference,
        law=law,
        flags=tuple(dict.fromkeys(flags)),
    )


def _attention_flags(mail: ParsedMail, ctx: ClassifyContext, reasons: list[str]) -> list[str]:
    """Things a person must check whatever the kind: a mistyped reference, a no-reply sender."""
    flags: list[str] = []
    mistyped = [f.text for f in quoted_references(mail, ctx) if not f.valid]
    if mistyped:
        flags.append("mistyped_reference")
        reasons.append(
            f"The reference {mistyped[0]} does not check out (mistyped?); it was not matched."
        )
    sender = mail.from_addr.email if mail.from_addr else ""
    local = sender.partition("@")[0]
    if any(p and p in local for p in ctx.noreply_patterns):
        flags.append("noreply_sender")
        reasons.append(f"The sender {sender} does not take replies.")
    return flags
