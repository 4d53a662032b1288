"""Classification rule for requests for internal review (FOIA s.45 Code; EIR reg 11
"reconsideration"; FOISA s.20 "requirement for review").

It runs before the case-correspondence rule, so a reply on a case that asks for a review is a
review request and not a clarification. The wording must be in the new text (or the subject):
our own responses quote the review procedure, and that quoted text must not count. On a
message linked to a case, looser wording ("appeal", "reconsider") is enough; otherwise only
phrasings that can mean nothing but a review request decide.
"""

from __future__ import annotations

from foi_mailbot.classify.base import ClassifyContext, Kind, Verdict
from foi_mailbot.classify.correspondence import Finding, case_link
from foi_mailbot.classify.phrases import REVIEW_STRONG, REVIEW_WEAK, matches
from foi_mailbot.parsing.folding import FoldedMail
from foi_mailbot.parsing.parsed import ParsedMail


def _quoted(phrases: list[str]) -> str:
    return ", ".join(f"'{p}'" for p in phrases)


class ReviewRequest:
    """See `Rule`: the new text asks for an internal review of our response."""

    name = "review_request"

    def check(self, mail: ParsedMail, folded: FoldedMail, ctx: ClassifyContext) -> Verdict | None:
        written = folded.new_text
        phrases = (*REVIEW_STRONG, *ctx.extra_review_phrases)
        strong = matches(folded.subject_new_text, phrases)
        link = case_link(mail, ctx)
        if link.reference is None:
            if not strong:
                return None
            reasons = (
                f"The new text asks for a review: {_quoted(strong)}.",
                "No case reference or thread was found; a person must match it to the case.",
            )
            return Finding(Kind.REVIEW_REQUEST, reasons)
        found = strong or matches(written, REVIEW_WEAK)
        if not found:
            return None
        if ctx.thread_case_is_review and link.reference == ctx.thread_case:
            # Already under review: more mail on it is correspondence on the review.
            return None
        reasons = (f"The new text asks for a review: {_quoted(found)}.", link.how)
        return Finding(Kind.REVIEW_REQUEST, reasons, reference=link.reference)
