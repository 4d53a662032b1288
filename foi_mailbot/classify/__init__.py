"""Pipeline stage `classify.classify`: what a parsed message is, and why.

The rules run in the order of `RULES`, top to bottom: loop guards first (mail that must never
be answered), then staff mail, then the regulators' mail, then mail on an existing case (a
review request wins over other correspondence), then copied mail, then follow-ups that do not
thread, then mail that is not an FOI request, then new requests (mail that asks for
information), and last the rule for mail that asks for nothing, which always matches. The
first rule that decides wins; the result records it, its reasons, and every rule passed over
before it. The guards (up to the regulators' mail) decide from headers, the sender and plain
text; the message's texts are folded once (`parsing.folding.fold_mail`) for the rules after
them. Pure: no I/O, no clock.
"""

from __future__ import annotations

from typing import Final

from foi_mailbot.cases.senders import Dmarc, dmarc_verdict, unvouched_reason
from foi_mailbot.classify.base import Classification, ClassifyContext, Guard, Kind, Rule, Verdict
from foi_mailbot.classify.correspondence import (
    CaseCorrespondence,
    Finding,
    StaffSender,
    quoted_references,
)
from foi_mailbot.classify.followup import FollowUp
from foi_mailbot.classify.intake import CopiedOnly, NewRequest, NotFoi, NothingAsked
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
from foi_mailbot.classify.references import READ_CHARS, other_references
from foi_mailbot.classify.regulator import RegulatorMail
from foi_mailbot.classify.review import ReviewRequest
from foi_mailbot.parsing.folding import FoldedMail, fold_mail
from foi_mailbot.parsing.parsed import ParsedMail

STAFF_UNVOUCHED: Final = "staff_unvouched"
"""Flag: inbox mail from a staff address the receiving server did not vouch for."""

LOOP_GUARDS: Final[tuple[Guard, ...]] = (
    OwnMail(), AutoSubmitted(), AutoReplyHeaders(), BulkPrecedence(), DeliveryReport(),
    NullReturnPath(), DaemonSender(), ListMail(), OutOfOfficeText(), HelpdeskText(),
)
"""The guards that know mail no one wrote by hand: answering it could start a loop."""

GUARDS: Final[tuple[Guard, ...]] = (*LOOP_GUARDS, StaffSender(), RegulatorMail())
"""The rules that decide from headers, the sender and plain text, before any text is folded."""

READERS: Final[tuple[Rule, ...]] = (
    ReviewRequest(), CaseCorrespondence(),
    CopiedOnly(), FollowUp(), NotFoi(),
    NewRequest(), NothingAsked(),  # the last always matches
)
"""The rules that read what the message says, in its folded texts."""

RULES: Final[tuple[Guard | Rule, ...]] = (*GUARDS, *READERS)
"""Every rule, in the order they run."""


def is_automatic(mail: ParsedMail, ctx: ClassifyContext) -> bool:
    """True when a loop guard knows the message as automatic mail (never to be answered)."""
    for guard in LOOP_GUARDS:
        verdict = guard.check(mail, ctx)
        if verdict is not None and verdict.kind is Kind.AUTO_REPLY:
            return True
    return False


def classify(
    mail: ParsedMail, ctx: ClassifyContext, folded: FoldedMail | None = None
) -> Classification:
    """Run the rules in order; the first that decides gives the kind, reasons and facts.
    `folded`: the message's texts folded already (`parsing.folding.fold_mail`)."""
    misses: list[str] = []
    for guard in GUARDS:
        verdict = guard.check(mail, ctx)
        if verdict is not None:
            return _outcome(guard.name, verdict, tuple(misses), mail, ctx)
        misses.append(guard.name)
    # Once, and only for mail the guards passed: folding a long text is most of what reading
    # it costs, and the rules read the same texts many times.
    folded = folded if folded is not None else fold_mail(mail)
    for rule in READERS:
        verdict = rule.check(mail, folded, ctx)
        if verdict is not None:
            return _outcome(rule.name, verdict, tuple(misses), mail, ctx)
        misses.append(rule.name)
    msg = "the last rule, nothing_asked, always matches"
    raise AssertionError(msg)


def _outcome(
    rule: str, verdict: Verdict, misses: tuple[str, ...], mail: ParsedMail, ctx: ClassifyContext
) -> Classification:
    reference = law = None
    flags: list[str] = []
    if isinstance(verdict, Finding):
        reference, law, flags = verdict.reference, verdict.law, list(verdict.flags)
    reasons = list(verdict.reasons)
    others: tuple[str, ...] = ()
    if verdict.kind is not Kind.AUTO_REPLY:
        regulator = "regulator" in flags
        flags += _attention_flags(mail, ctx, reasons, regulator=regulator)
        others = _other_references(mail, ctx, regulator=regulator)
        if others and reference is None:
            reasons.append(f"It quotes another system's reference, {others[0]}, for a person "
                           "to match by; it opens and moves no case by itself.")
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
        other_references=others,
    )


def _other_references(
    mail: ParsedMail, ctx: ClassifyContext, *, regulator: bool
) -> tuple[str, ...]:
    """Other systems' references in labelled places (the regulator's letter: all its text)."""
    text = (mail.text if regulator else mail.new_text)[:READ_CHARS]
    ours = ctx.find_references(f"{mail.subject}\n{text}")
    # A regulator's IC- reference has our shape but not our suffix: it is theirs, not mistyped.
    known = {f.text.upper() for f in ours if f.valid or not regulator}
    known |= {f.reference for f in ours if f.valid or not regulator}
    return tuple(r.text for r in other_references(mail.subject, text, known))


def _attention_flags(
    mail: ParsedMail, ctx: ClassifyContext, reasons: list[str], *, regulator: bool = False
) -> list[str]:
    """Things a person must check whatever the kind: a mistyped reference, a no-reply sender."""
    flags: list[str] = []
    mistyped = [] if regulator else [
        f.text for f in quoted_references(mail, ctx) if not f.valid]
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
