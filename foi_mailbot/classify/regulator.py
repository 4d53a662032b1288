"""Classification rule for the information regulators' mail: the ICO (FOIA s.50 complaints,
decision notices, information notices) and the Scottish Information Commissioner (FOISA s.47
applications).

Such mail is correspondence about one of our cases, never a request: it is never acknowledged,
it is attached to the case it names where our reference is quoted, and it is flagged for a
person with the deadline the regulator sets where the text states one. The sender's domain is
a claim like any header, which is why the outcome is a flag for a person and nothing more. An
ICO `IC-NNNNNN-XXXX` reference has our shape when our prefix is also `IC`; it is told apart by
its check suffix, which is not ours.
"""

from __future__ import annotations

import re
from typing import Final

from foi_mailbot.classify.base import ClassifyContext, Kind, Verdict
from foi_mailbot.classify.correspondence import Finding
from foi_mailbot.classify.references import ICO_FS, regulator_references
from foi_mailbot.parsing.parsed import ParsedMail

_NAMES: Final = ("information commissioner's office", "scottish information commissioner")
_NUMBER_WORDS: Final = r"\d{1,3}|seven|ten|fourteen|twenty|twenty-eight|thirty|thirty-five"
_DEADLINE: Final = re.compile(
    rf"\b(?:within\s+(?:{_NUMBER_WORDS})\s+(?:calendar\s+|working\s+)?days"
    r"(?:\s+of\s+the\s+date\s+of\s+this\s+(?:letter|notice|email))?"
    r"|by\s+\d{1,2}\s+(?:January|February|March|April|May|June|July|August|September|October"
    r"|November|December)\s+\d{4})",
    re.IGNORECASE,
)


def from_regulator(mail: ParsedMail, ctx: ClassifyContext) -> str | None:
    """The regulator's domain the sender writes from, or None."""
    domain = mail.from_addr.domain if mail.from_addr else ""
    for regulator in ctx.regulator_domains:
        if domain == regulator or domain.endswith(f".{regulator}"):
            return regulator
    return None


def regulator_deadline(text: str) -> str | None:
    """The deadline the regulator's letter states ("within 20 working days", "by 14 May
    2026"), as written, or None."""
    found = _DEADLINE.search(text)
    return " ".join(found.group(0).split()) if found else None


class RegulatorMail:
    """See `Rule`: mail from the ICO or the Scottish Information Commissioner."""

    name = "regulator_mail"

    def check(self, mail: ParsedMail, ctx: ClassifyContext) -> Verdict | None:
        regulator = from_regulator(mail, ctx)
        text = f"{mail.subject}\n{mail.text}"
        if regulator is None:
            # Forwarded or pasted regulator letters name the office and carry its reference.
            lowered = text.lower()
            if not (any(n in lowered for n in _NAMES) and ICO_FS.search(mail.subject.upper())):
                return None
            reasons = ["It names the Information Commissioner and quotes an ICO case number."]
        else:
            reasons = [f"It comes from {regulator}, an information regulator's domain."]
        ours = [f for f in ctx.find_references(text) if f.valid]
        reference = ours[0].reference if ours else None
        flags = ["regulator"]
        if reference:
            reasons.append(f"It names our case {reference}.")
        else:
            flags.append("which_case")
            reasons.append("It names none of our cases: a person must find the case.")
        theirs = [r for r in regulator_references(text)
                  if r.upper() not in {f.reference for f in ours}]
        if theirs:
            reasons.append(f"The regulator's reference is {theirs[0]}.")
        deadline = regulator_deadline(mail.text)
        if deadline:
            flags.append("regulator_deadline")
            reasons.append(f"The regulator sets a deadline: {deadline}.")
        reasons.append("Regulator mail is never acknowledged; it goes to a person.")
        return Finding(Kind.CLARIFICATION, tuple(reasons), reference=reference,
                       flags=tuple(flags))
