"""The English phrase lists classification rules read, and the one way they are matched.

Each list is a default that configuration extends (`ClassifyContext.extra_*_phrases`). Phrases
are matched case-insensitively on whole words, with runs of whitespace (including line breaks
from wrapped mail) treated as one space and an optional plural "s"/"es", so "tree" also finds
"trees". Lists that decide on their own are written narrowly: a new request that mentions
"internal review outcomes" must not become a review request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Final

from foi_mailbot.parsing.folding import Folded, normalise, words

# Review requests: enough on their own, even when the message is linked to no case.
REVIEW_STRONG: Final = (
    "request an internal review",
    "requesting an internal review",
    "request for an internal review",
    "request for internal review",
    "ask for an internal review",
    "asking for an internal review",
    "like an internal review",
    "want an internal review",
    "conduct an internal review",
    "carry out an internal review",
    "internal review of your",
    "internal review of the handling",
    "internal review of my",
    "internal review of freedom of information request",
    "internal review of foi request",
    "person who conducts freedom of information reviews",
    "requirement for review",
    "require a review of",
    "review of your decision",
    "review of your response",
    "review of the decision",
    "review of the response",
    "not satisfied with your response",
    "not satisfied with the response",
    "dissatisfied with your response",
    "dissatisfied with the response",
    "unhappy with your response",
    "not happy with your response",
    "reconsideration under regulation 11",
    "representations under regulation 11",
    "request reconsideration",
    "appeal against your decision",
    "appeal your decision",
    "complain about the handling of my",
    "complaint about the handling of my",
)

# Review wording that only counts on a message already linked to one of our cases.
REVIEW_WEAK: Final = (
    "internal review",
    "appeal",
    "reconsider",
    "reconsideration",
    "not satisfied",
    "dissatisfied",
    "review your decision",
    "review the decision",
)

# Subject openings of automatic mail; matched at the start, before ":" or the end.
AUTO_REPLY_SUBJECTS: Final = (
    "automatic reply",
    "auto reply",
    "auto-reply",
    "autoreply",
    "auto response",
    "auto-response",
    "automatic response",
    "automated response",
    "out of office",
    "out of the office",
    "away from the office",
    "away from office",
    "absence notice",
    "undeliverable",
    "undelivered mail",
    "delivery status notification",
    "delivery failure",
    "mail delivery failed",
    "mail delivery failure",
    "returned mail",
    "failure notice",
    "delivery has failed",
)

# Body phrasings that only a machine writes; read only in short messages.
AUTO_REPLY_BODY: Final = (
    "this is an automatic reply",
    "this is an automated reply",
    "this is an automatic response",
    "this is an automated response",
    "this is an auto-reply",
    "this is an automated message",
    "this is an automatically generated",
    "this mailbox is not monitored",
    "this mailbox is no longer monitored",
    "this email address is not monitored",
    "this email address is no longer monitored",
    "this inbox is not monitored",
    "your message could not be delivered",
    "delivery to the following recipient failed",
    "delivery has failed to these recipients",
)

# Out-of-office phrasings; people write these too, so they count only beside AWAY_RETURN.
AWAY: Final = (
    "i am out of the office",
    "i'm out of the office",
    "i am currently out of the office",
    "i'm currently out of the office",
    "i am out of office",
    "i am away from the office",
    "i'm away from the office",
    "i am currently away",
    "i'm currently away",
    "i am away until",
    "i'm away until",
    "i am on annual leave",
    "i'm on annual leave",
    "i am currently on annual leave",
    "i'm currently on annual leave",
    "i am on leave",
    "i'm on leave",
    "i will be out of the office",
    "i will be away from the office",
    "i will be on annual leave",
    "i am not in the office",
)

# What an out-of-office notice says next: when the writer is back, or who to ask meanwhile.
AWAY_RETURN: Final = (
    "until",
    "on my return",
    "when i return",
    "when i am back",
    "when i'm back",
    "back in the office",
    "back on",
    "returning on",
    "limited access to email",
    "no access to email",
    "for urgent matters",
    "if your matter is urgent",
    "if your enquiry is urgent",
    "will not be forwarded",
)

# Subject access: a person asking for their own personal data (UK GDPR Art 15).
SUBJECT_ACCESS: Final = (
    "subject access request for my",
    "make a subject access request",
    "making a subject access request",
    "submit a subject access request",
    "this is a subject access request",
    "data subject access request",
    "personal data you hold about me",
    "personal information you hold about me",
    "information you hold about me",
    "data you hold about me",
    "information held about me",
    "data held about me",
    "copy of my personal data",
    "copy of my personal information",
    "copies of my personal data",
    "all my personal data",
    "right of access under article 15",
    "under article 15 of the uk gdpr",
)

# Human mail that is plainly something else; decides only when no FOI wording is present.
NOT_FOI: Final = (
    # complaints about services
    "i wish to make a complaint",
    "i want to make a complaint",
    "i would like to make a complaint",
    "i wish to complain about",
    "i want to complain about",
    "formal complaint about",
    "i would like to report a",
    "i want to report a",
    "my bin was not collected",
    "missed bin collection",
    # marketing and spam
    "unsubscribe",
    "special offer",
    "limited time offer",
    "book a demo",
    "free trial",
    "seo services",
    "guest post",
    "webinar",
    "exclusive discount",
    # routine business
    "please find attached our invoice",
    "please find attached invoice",
    "invoice number",
    "payment is now overdue",
    "remittance advice",
    "purchase order number",
    "statement of account",
    # job applications
    "application for the position",
    "application for the role",
    "apply for the position",
    "apply for the role",
    "my cv",
    "curriculum vitae",
    "job application",
    # press enquiries
    "press enquiry",
    "media enquiry",
    "request for comment",
    "deadline for comment",
    "could you provide a comment",
    "statement for publication",
    "working on a story",
    "for a story",
)

# Words that show a request for recorded information, which vetoes NOT_FOI.
ACTS_NAMED: Final = (
    "freedom of information",
    "foi",
    "foia",
    "foisa",
    "environmental information regulations",
    "eir",
)
"""The Acts and Regulations by name: naming them is asking under them."""

FOI_WORDING: Final = (
    *ACTS_NAMED,
    "request for information",
    "information request",
    "please provide",
    "please disclose",
    "please send me",
    "please supply",
    "i would like to request",
    "i would like to know",
    "i request",
    "copies of",
    "a copy of",
    "how many",
    "how much",
    "recorded information",
    "information held",
    "information you hold",
    "could you tell me",
    "can you tell me",
)

# Enough on their own to put a new request under the EIR (reg 2(1) "environmental information").
ENVIRONMENTAL: Final = (
    "environmental information",
    "environmental information regulations",
    "air quality",
    "air pollution",
    "water quality",
    "bathing water",
    "pollution",
    "emissions",
    "carbon footprint",
    "net zero",
    "climate change",
    "climate emergency",
    "contaminated land",
    "land contamination",
    "soil",
    "sewage",
    "landfill",
    "fly-tipping",
    "fly tipping",
    "waste collection",
    "household waste",
    "recycling",
    "noise complaint",
    "noise nuisance",
    "planning application",
    "planning permission",
    "planning consent",
    "planning enforcement",
    "local plan",
    "housing development",
    "flood",
    "flooding",
    "flood risk",
    "tree preservation order",
    "tree felling",
    "street trees",
    "hedgerow",
    "biodiversity",
    "wildlife",
    "habitat",
    "pesticide",
    "herbicide",
    "glyphosate",
    "energy consumption",
    "energy efficiency",
    "renewable energy",
    "solar panel",
    "wind turbine",
    "nitrogen dioxide",
    "particulate",
    "clean air zone",
    "low emission zone",
    "ultra low emission zone",
    "low traffic neighbourhood",
    "traffic calming",
    "river",
    "japanese knotweed",
)

# Each too loose alone ("a waste of money"); two different ones together mean environmental.
ENVIRONMENTAL_WEAK: Final = (
    "environmental",
    "waste",
    "energy",
    "noise",
    "tree",
    "water",
    "drainage",
    "climate",
    "carbon",
    "planning",
    "development",
    "green space",
)


def matches(text: str | Folded, phrases: Iterable[str]) -> list[str]:
    """The phrases found in already-normalised (or folded) text, in list order, without
    repeats."""
    # Every run of word characters in a phrase stands whole in any text it matches (the last
    # perhaps with a plural ending): set look-ups rule out most phrases, where the pattern
    # would read the whole text. Common first words ("please", "i") make the first alone weak.
    seen = text if isinstance(text, Folded) else Folded(text, words(text))
    found = seen.words
    return [phrase for phrase, needed, last, pattern in _compiled(tuple(phrases))
            if needed <= found and (last is None or not last.isdisjoint(found))
            and _found(pattern, seen.text)]


def _found(pattern: re.Pattern[str], text: str) -> bool:
    """True if `pattern` matches where no word character comes just before it.

    The boundary is checked here rather than by a leading lookbehind: a pattern that opens with
    a literal word lets `re` skip ahead to that word, where a lookbehind makes it try every
    position (about 25 times slower on a 20 KB message, and classification reads hundreds of
    phrases per message).
    """
    pos = 0
    while (match := pattern.search(text, pos)) is not None:
        start = match.start()
        if start == 0 or not _WORD_CHAR.match(text, start - 1):
            return True
        pos = start + 1
    return False


def starts_with(text: str, phrases: Iterable[str]) -> str | None:
    """The phrase normalised text opens with, followed by ":", "(" or the end."""
    for phrase in dict.fromkeys(phrases):
        if phrase and _opening(phrase).match(text):
            return phrase
    return None


_WORD_CHAR: Final = re.compile(r"\w")


_WORD_RUN: Final = re.compile(r"\w+")
_Compiled = tuple[str, frozenset[str], frozenset[str] | None, re.Pattern[str]]


@lru_cache(maxsize=64)
def _compiled(phrases: tuple[str, ...]) -> tuple[_Compiled, ...]:
    """Each distinct phrase, once per list: the runs of word characters any text it matches
    holds, the forms its last run may take there when the pattern lets it end in a plural
    (else None), and its pattern."""
    compiled = []
    for phrase in dict.fromkeys(phrases):
        text = normalise(phrase)
        if not text:
            continue
        runs = _WORD_RUN.findall(text)
        last: frozenset[str] | None = None
        if runs and _WORD_CHAR.match(text[-1]):
            # The phrase ends in its last run, which the pattern lets take "s" or "es".
            end = runs.pop()
            last = frozenset({end, f"{end}s", f"{end}es"})
        compiled.append((phrase, frozenset(runs), last, _pattern(phrase)))
    return tuple(compiled)


@lru_cache(maxsize=1024)
def _pattern(phrase: str) -> re.Pattern[str]:
    """The phrase's words, any run of whitespace between them, an optional plural ending."""
    words = r"\s+".join(re.escape(w) for w in normalise(phrase).split())
    return re.compile(rf"{words}(?:s|es)?(?![\w])")


@lru_cache(maxsize=256)
def _opening(phrase: str) -> re.Pattern[str]:
    words = r"\s+".join(re.escape(w) for w in normalise(phrase).split())
    reply = r"(?:\s+(?:reply|autoreply|auto-reply|notification|notice|message|response))?"
    # "Out of Office: <subject>" or "... (Failure)"; not "Out of office hours - a request".
    return re.compile(rf"(?:(?:re|fw|fwd|aw)\s*:\s*)*{words}{reply}\s*(?:[:(]|$)")
