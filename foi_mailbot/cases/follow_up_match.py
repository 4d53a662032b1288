"""Matching mail that names no case for certain: follow-ups that do not thread, and the
regulators' letters.

Classification is told the sender's open cases (`matching.Thread.sender_open_cases`: a
reply-shaped message from them is correspondence, never a second request). `refine_match` then
finishes what `resolve` found: a follow-up with no case found is attached by a guess (the
sender's only open case, or the open case with the most similar subject) and flagged
`matched_by_guess`, so it never moves the clock; with nothing to guess from it is flagged
`which_case`. A regulator's letter quoting our reference is attached without the "not from the
requester" flag (the regulator is never the requester) and flagged `regulator` for a person.
"""

from __future__ import annotations

from difflib import SequenceMatcher
from typing import Final

from sqlalchemy.orm import Session

from foi_mailbot.cases.matching import (
    SAME_SENDER_AND_SUBJECT,
    Match,
    normalise_subject,
)
from foi_mailbot.classify.base import Classification, Kind
from foi_mailbot.parsing.parsed import ParsedMail
from foi_mailbot.storage import queries
from foi_mailbot.storage.models import Case

# How alike two subjects must be (difflib's ratio, 0-1) for one to suggest the other's case.
SIMILAR_SUBJECT: Final = 0.6
_GUESSED_BY_RULES: Final = frozenset({"follow_up"})


def guess_case(session: Session, mail: ParsedMail) -> tuple[Case | None, str | None]:
    """The sender's only open case, or the open case whose subject is most like this one's."""
    if mail.from_addr is None:
        return None, None
    cases = queries.open_cases_of_sender(session, mail.from_addr.email)
    if len(cases) == 1:
        only = queries.case_by_reference(session, cases[0].reference)
        return only, "the sender's only open case (a guess)"
    wanted = normalise_subject(mail.subject)
    scored = sorted(
        ((SequenceMatcher(None, wanted, normalise_subject(case.subject)).ratio(), case.reference)
         for case in cases if wanted),
        reverse=True,
    )
    if scored and scored[0][0] >= SIMILAR_SUBJECT:
        ratio, reference = scored[0]
        how = f"the sender's open case with the most similar subject ({ratio:.0%} alike; a guess)"
        return queries.case_by_reference(session, reference), how
    return None, None


def refine_match(
    session: Session, mail: ParsedMail, verdict: Classification, match: Match
) -> Match:
    """`resolve`'s match, finished for regulator mail and follow-ups (see the module)."""
    flags = list(match.flags)
    if "regulator" in verdict.flags:
        flags = [f for f in flags if f != "reference_from_other_sender"]
        flags.append("regulator")
        if match.case is None:
            flags.append("which_case")
        return Match(match.case, match.how, tuple(dict.fromkeys(flags)))
    if verdict.kind is Kind.CLARIFICATION and match.how == SAME_SENDER_AND_SUBJECT:
        # Not a reply to anything of the case's: the same words may start another request.
        return Match(match.case, match.how, tuple(dict.fromkeys([*flags, "matched_by_guess"])))
    if verdict.kind is not Kind.CLARIFICATION or verdict.rule not in _GUESSED_BY_RULES:
        return match
    if match.case is not None:
        # Found by a reference in quoted or forwarded text, or by the sender and subject.
        return Match(match.case, match.how, tuple(dict.fromkeys([*flags, "matched_by_guess"])))
    case, how = guess_case(session, mail)
    if case is None:
        return Match(None, None, tuple(dict.fromkeys([*flags, "which_case"])))
    return Match(case, how, tuple(dict.fromkeys([*flags, "matched_by_guess"])))
