"""Reading what staff wrote, for `cases.staff_actions` (pure).

`staff_actions.infer_staff_action` decides what a staff message does to its case; this module
supplies what it reads: the sender's own words with quoted history cut off (`own_words`), the
text folded for matching (`fold`), the phrase groups and the guards that disqualify a phrase
(`find_phrase`) and the exemptions cited (`cited_sections`). Stated due dates and extension
lengths are read by `staff_dates`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from foi_mailbot.parsing.parsed import ParsedMail

# --- phrase groups ------------------------------------------------------------------------
# Matched against lower-cased text with runs of whitespace folded to one space.

Group = tuple[re.Pattern[str], ...]


@dataclass(frozen=True)
class After:
    """A guard read on the words that follow a phrase ("... as withdrawn unless we hear")."""

    pattern: re.Pattern[str]


def _g(*sources: str) -> Group:
    return tuple(re.compile(rf"(?<![a-z0-9])(?:{s})(?![a-z0-9])") for s in sources)


_ASK = r"(?:clarify|confirm|specify|narrow|tell us|let us know|explain|indicate|define)"
_WHICH = r"(?:which|what|whether|if you|the|your|how|exactly)"
_SECTION_1_3 = r"(?:section|s\.) ?1 ?\(3\)"
_NUM_WORD = r"(?:\d{1,2}|ten|fifteen|twenty|thirty|forty|sixty)"
_YOUR = r"(?:your|this|the)"
REVIEW_CONTEXT = _g(
    r"internal review", r"reconsideration",
    r"review of (?:our|the) (?:original )?(?:response|decision|handling)",
    r"reviewed (?:the|our) (?:original )?(?:handling|response|decision)",
    r"(?:completed|carried out|conducted) (?:the|an|a|my|our) (?:internal )?review",
)
# A review asked for and taken on, with no decision yet.
REVIEW_ASKED = _g(
    r"(?:request(?:ing|ed)?|ask(?:ing|ed)?) (?:for )?(?:an |a )?(?:internal )?review",
    r"(?:internal )?review (?:has been|will be|is being) (?:logged|carried out|conducted|"
    r"undertaken|passed|allocated)",
    r"aim to complete (?:internal )?reviews?", r"outcome of the (?:internal )?review",
)
REVIEW_TAKEN_ON = _g(
    r"acknowledge receipt", r"thank you for your (?:email|e-mail|letter|request)",
    r"(?:we|i) have (?:now )?received", r"(?:has been|was) (?:logged|passed|allocated)",
    r"will be (?:carried out|conducted|undertaken)", r"aim to complete",
    r"(?:we|i) will (?:respond|write|reply)",
)
REVIEW_PARTLY = _g(
    r"partially upheld", r"partly upheld", r"upheld in part", r"partially uphold",
    r"partly uphold", r"(?:upheld|uphold) (?:your (?:complaint|appeal) )?partially",
    r"uphold(?:ing)? (?:\w+ ){0,4}in part",
)
REVIEW_OVERTURNED = _g(
    r"overturn(?:ed|ing)?",
    # The requester's complaint upheld is the original decision overturned.
    r"(?:uphold|upheld) (?:your|the) (?:complaint|appeal)",
    r"(?:your|the) (?:complaint|appeal) (?:is|has been) upheld(?! in part)",
    r"revers(?:e|ed|ing) the original decision",
    r"should not have been withheld", r"original (?:decision|response) was (?:wrong|incorrect)",
    r"(?:was|were) not (?:correctly|properly) applied",
    r"releas\w* (?:the )?information (?:that was |previously )?withheld",
)
REVIEW_UPHELD = _g(
    r"uph(?:e|o)ld(?:ing)? (?:the|our) original", r"(?:was|were) right to (?:withhold|refuse)",
    r"(?:original )?(?:decision|response|refusal) (?:is|was|has been) upheld",
    r"decided to uphold", r"(?:i|we) uphold", r"(?:i am|we are) upholding",
    r"(?:was|were) correctly applied", r"the original response was correct",
    r"handled (?:your|the) request (?:correctly|properly|appropriately)",
    r"(?:do not|don't) propose to change",
)
REOPEN = _g(
    rf"re-?opened {_YOUR} request", rf"re-?opening {_YOUR} request",
    rf"{_YOUR} request (?:has been|is now|is being) re-?opened",
)
WITHDRAWN = _g(
    rf"(?:treat|consider)(?:s|ing|ed)? {_YOUR} request (?:as|to be|to have been) withdrawn",
    r"you have withdrawn", rf"withdrawal of {_YOUR} request",
    rf"(?:wish|want) to withdraw {_YOUR} request", r"no longer (?:wish|want) to (?:pursue|proceed)",
)
CLOSE = WITHDRAWN + _g(
    rf"(?:have|has) (?:now )?closed {_YOUR} (?:request|case)",
    rf"{_YOUR} (?:request|case) has (?:now )?been closed",
    rf"(?:are|am) (?:now )?closing {_YOUR} (?:request|case)",
)
PAID = _g(
    r"payment received", r"received (?:your|the) (?:payment|fee)", r"received payment",
    r"fee has (?:now )?been (?:paid|received)", r"thank you for (?:your|the) payment",
    r"payment (?:of £ ?[\d.,]+ )?has (?:now )?been received",
    r"(?:cheque|payment) (?:for £ ?[\d.,]+ )?(?:arrived|has arrived|has cleared|was received)",
    r"received your (?:cheque|remittance)",
)
FEES = _g(
    r"fees? notice", r"(?:section|s\.) ?9(?: ?\(\d\))?", r"fee of £ ?\d", r"charge of £ ?\d",
    r"(?:regulation|reg\.?) ?8(?: ?\(\d\))?", r"advance payment", r"payable in advance",
)
CLARIFY = _g(
    r"(?:could|can|would) you (?:please )?clarify", r"please (?:could you )?clarify",
    r"if you (?:could|would|can) (?:please )?clarify", _SECTION_1_3,
    r"(?:regulation|reg\.?) ?9(?: ?\(\d\))?", r"identify and locate",
    r"(?:we|i) (?:need|require) (?:some )?(?:more|further|additional) (?:information|details?)",
    r"(?:which|what) [a-z ]{1,30} (?:are|do) you (?:interested in|referring to|mean)",
    r"not clear (?:to us )?what information", r"please provide (?:more|further) details?",
    rf"(?:could|can|would|will) you (?:please |kindly )?(?:be able to )?{_ASK}",
    rf"(?:if|whether) you (?:could|can|would) (?:please )?{_ASK}",
    rf"please (?:could you )?(?:clarify|confirm|specify|narrow|indicate|explain) {_WHICH}",
    rf"please (?:tell|let) (?:us|me) (?:know )?{_WHICH}", r"please specify",
    r"(?:do|did) you mean", r"what (?:do|did) you mean",
    r"(?:which|what) you (?:mean|have in mind)",
    r"(?:not sure|unclear|uncertain) (?:what|which|whether)",
    r"narrow (?:it|your request|the scope)",
    r"(?:your|a) (?:full|real) name", r"(?:verify|confirm|proof of) your identity",
    r"(?:be|being) more specific", r"when you say", r"do you want (?:them|it|us|the|figures)",
)
EXTEND_STRONG = _g(
    r"(?:section|s\.) ?10 ?\(3\)", r"(?:regulation|reg\.?) ?7(?: ?\(\d\))?",
    r"extend(?:ing|ed)? (?:the )?(?:time|deadline|response|period|date)", r"an extension",
    r"complex and voluminous", r"complexity and volume", r"(?:more|further|additional) time",
    rf"(?:further|additional|extra|another) {_NUM_WORD} working days",
    r"(?:will now|now (?:aim|expect|intend|hope) to) respond (?:to you )?by",
    r"(?:new|revised) (?:due date|deadline|target date)",
)
EXTEND_WEAK = _g(r"public interest test", r"public interest")
NCND = _g(r"neither confirm(?:s|ing)? nor deny", r"ncnd")
ACK_STRONG = _g(
    r"acknowledge receipt", r"(?:this|email) is to (?:acknowledge|confirm that we have received)",
    r"to acknowledge (?:your|the) request", r"(?:has|have) been (?:logged|registered)",
    r"logged (?:as|under)", r"(?:receive|send you) (?:a|our) response within",
    r"respond (?:promptly and )?(?:in any event )?within",
    r"(?:we've|we have|i've|i have) (?:got|received) your (?:request|email)",
    r"(?:it's|it is|request is) (?:now )?with (?:the|our) [a-z ]{2,30} team",
    r"(?:has been|have been) (?:passed|forwarded|sent) to the (?:relevant|appropriate)",
)
HOLDING = _g(
    r"(?:i am|i'm|we are|we're) (?:very |really |so |truly )?sorry", r"apologi[sz]e",
    r"apologies", r"still (?:collating|waiting|working|gathering|consulting|considering)",
    r"(?:quick |brief )?update", r"chas(?:ed|ing)", r"as soon as (?:i|we) (?:can|have)",
    r"hope to (?:be in touch|have a response|respond|reply)", r"(?:get|be) back to you",
    r"(?:i|we)'ll be in touch", r"(?:will|to) be in touch", r"as soon as possible",
    r"(?:unable|not be able|won't be able|not able) to (?:respond|reply|meet)",
)
NOT_HELD = _g(
    r"(?:we|i) do(?:es)? not hold", r"(?:does|do) not hold",
    r"(?:information|it) (?:is )?not held",
    r"(?:holds?|held) no (?:recorded )?information",
    r"no (?:recorded )?information (?:is|was) held",
)
WITHHELD = _g(
    r"refusal notice", r"is refused", rf"refuse {_YOUR} request", r"(?:is|are) exempt",
    r"exempt from disclosure", r"exceeds? the (?:appropriate|cost) limit", r"vexatious",
    rf"refusing {_YOUR} request", r"(?:decided|decision is) to withhold",
    r"(?:unable|not able) to (?:provide|disclose|release) (?:this|the|that|any)",
    r"not obliged to (?:comply|respond|provide)",
    r"(?:rely|relies|relying) on (?:the exemptions? (?:at|in|under) )?(?:section|s\.) ?"
    r"(?:1[24]|2[1-9]|3\d|4[0-4])(?![0-9])",
    r"refus(?:e|ed|ing) to (?:disclose|release|provide)",
    r"manifestly unreasonable", r"(?:section|s\.) ?17 ?(?:\(\d\))?", r"withholding",
)
_MATERIAL = (
    r"(?:information|data|figures|spreadsheet|documents?|copies|correspondence|records"
    r"|reports?|surveys?|contract|table|list)"
)
PROVIDED = _g(
    r"the information (?:you (?:have )?requested |requested )?is attached",
    r"(?:we|i) (?:are|am) (?:able|pleased) to provide",
    r"(?:have been|were|was) able to provide (?:all|the|you)", r"i can confirm the following",
    r"please (?:find|see) (?:attached|enclosed|below) the (?:requested )?information",
    r"can now (?:provide|respond|response)", r"the information is as follows",
    r"this concludes our response", r"i hope (?:that )?(?:you find )?(?:this|the) information",
    rf"please (?:find|see) (?:attached|enclosed|below) (?:the |a |copies of |a copy of )?"
    rf"(?:requested |relevant )?{_MATERIAL}",
    rf"(?:i|we) (?:have )?(?:attach|enclose)(?:d)? (?:the |a |copies of |a copy of )?{_MATERIAL}",
    r"(?:is|are) (?:shown|set out|listed|given|detailed) (?:in the attached|below)",
    r"(?:we|i) hold (?:this|the) information and", r"(?:released|disclosed|provided) in full",
    r"(?:we|the council) (?:do |does )?holds? (?:the|this) information (?:you|that you|requested)",
    r"(?:releasing|disclosing) it",
    r"(?:answers?|responses?) to your (?:questions?|request) (?:is|are) "
    r"(?:as follows|below|set out)",
)
# "in part (c)" names a part of the request; it says nothing about how much was given.
PARTIAL = _g(
    r"partially", r"partly", r"some of the information", r"in part(?! ?\(?[a-z0-9]{1,3}\b)",
    r"some (?:information|details|data) (?:has|have) been (?:withheld|redacted|removed)",
    r"(?:the )?(?:remaining|rest of the) information",
    r"redact\w*",
)
ATTACHED = _g(r"please (?:find|see) (?:the |our )?(?:attached|enclosed)")
_WITHHELD_WEAK = _g(r"withheld", r"exempt under")
WITHHELD_ANY = WITHHELD + _WITHHELD_WEAK
RESPOND_WEAK = PARTIAL + ATTACHED + _WITHHELD_WEAK
ACK = _g(
    r"(?:we|i) acknowledge receipt", r"acknowledge receipt of",
    r"(?:this|email) is to acknowledge", r"to acknowledge (?:your|the) request",
)
ACK_THANKS = _g(r"thank you for your (?:recent )?(?:request|email|e-mail)")
ACK_PROMISE = _g(
    r"we will respond", r"(?:response|reply) (?:to your request )?(?:is|will be) due",
    r"respond within", r"will be allocated", r"we (?:have )?received your request",
)
# Phrases that by themselves show a response was sent.
RESPOND_STRONG = NCND + NOT_HELD + WITHHELD + PROVIDED

# Preceding words (same sentence) that turn a statement into a denial or a condition.
NEGATED = re.compile(
    r"(?:(?:\bnot\b|n't\b|\bnever\b|\byet to\b)[^.!?;,]{0,20}|\bno\b[^.!?;,]{0,25})$"
)
# A possibility ("may be exempt") or a condition still to be met ("until payment has been
# received") is not a statement that it happened.
ADVICE = re.compile(r"\b(?:may|might) (?:wish|want|like) to(?: \w+)?\s?$")
MAYBE = re.compile(r"\b(?:may|might|could|possibly)\b[^.!?;,]{0,12}$")
UNTIL = re.compile(r"\b(?:until|once|when|after|before|on receipt)\b[^.!?;,]{0,40}$")
CONDITIONAL = re.compile(r"\b(?:if|will|would|shall|unless|where|whether|may)\b[^.!?;,]{0,30}$")
IF = re.compile(r"\b(?:if|unless|should)\b[^.!?;,]{0,60}$")
# A condition anywhere earlier in the sentence ("If we do not hear from you, we will treat...")
# or straight after the phrase ("... as withdrawn unless we hear from you").
IF_IN_SENTENCE = re.compile(r"\b(?:if|unless|should|otherwise)\b[^.!?;]{0,80}$")
IF_AFTER = After(re.compile(r"^[^.!?;]{0,40}\b(?:if|unless|should|otherwise)\b"))
_GUARD_WINDOW = 70


def find_phrase(text: str, group: Group, *guards: re.Pattern[str] | After) -> str | None:
    """The first phrase of `group` in `text` that no guard disqualifies."""
    for pattern in group:
        for m in pattern.finditer(text):
            before = text[max(0, m.start() - _GUARD_WINDOW) : m.start()]
            after = text[m.end() : m.end() + _GUARD_WINDOW]
            if not any(g.pattern.search(after) if isinstance(g, After) else g.search(before)
                       for g in guards):
                return m.group(0)
    return None


# --- the sender's own words -------------------------------------------------------------

# What staff write themselves fits well within this; the rest is quoted or attached matter.
_MAX_TEXT = 20_000
_HISTORY = re.compile(
    r"^\s*(?:-{2,} ?original message ?-{2,}|-- ?$|_{8,}\s*$"
    r"|on\b.{0,200}\bwrote:\s*$|from: .*\n(?:.*\n){0,3}\s*(?:sent|date): )",
    re.IGNORECASE | re.MULTILINE,
)


def own_words(mail: ParsedMail) -> str:
    """The new text of `mail` without quoted history, signature or '>' lines.

    Parsing already cuts history into `new_text`; this repeats the common cuts so that a
    message the parser could not split (new_text empty) is still read only up to the quote.
    """
    text = (mail.new_text or mail.text)[:_MAX_TEXT]
    m = _HISTORY.search(text)
    if m:
        text = text[: m.start()]
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(">"))


# A passage in quotation marks (the request recited in a letter) and standard paragraphs (the
# right to a review and to complain to the Commissioner, e-mail disclaimers) say nothing about
# what this message does, yet are full of the words that would otherwise decide it.
_QUOTED_PASSAGE = re.compile(r'"[^"]{60,}?"|\u201c[^\u201d]{60,}?\u201d')
_BOILERPLATE = re.compile(
    r"if you are (?:dissatisfied|unhappy|not (?:content|satisfied|happy))|you have the right to"
    r"|right to (?:ask|request|complain|apply)|wycliffe house|commissioner can be contacted"
    r"|(?:apply|complain|appeal|write)\w* (?:directly )?to the information commissioner"
    r"|should be (?:submitted|addressed)|may be disclosed under|confidential and intended"
    r"|received this (?:e-?mail|message) in error|views expressed"
)
_SENTENCE = re.compile(r"[^.!?]+(?:[.!?]+|$)")


def readable(text: str) -> str:
    """Folded `text` without quoted passages and standard paragraphs (see above)."""
    text = _QUOTED_PASSAGE.sub(" [quoted] ", text)
    return "".join(s for s in _SENTENCE.findall(text) if not _BOILERPLATE.search(s))


def fold(text: str) -> str:
    """`text` lower-cased, with curly quotes made straight and whitespace runs folded."""
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u00a0", " ")
    return re.sub(r"\s+", " ", text.lower())


# --- sections cited -------------------------------------------------------------------------

_NUM = r"\d{1,3}[a-z]?(?: ?\( ?[0-9a-z]{1,5} ?\))*"
_SEP = r"(?:, ?| and | or | & |/)"
# "sections 24(1) (national security) and 31(1)(a)": a description between cited numbers.
_DESC = r"(?: ?\([a-z][a-z' ,-]{5,60}\))"
# Only a plural ("sections 40 and 41") may introduce a list, so "section 43 and 12 months"
# cites one section; a bare "s" counts only when a digit follows at once ("s43").
_CITE = re.compile(
    r"(?<![a-z0-9])(?:(?P<many>sections |ss\. ?|regulations |regs\.? )"
    rf"(?P<list>{_NUM}{_DESC}?(?:{_SEP}{_NUM}{_DESC}?)*)"
    rf"|(?P<one>section |s\. ?|s(?=\d)|regulation |reg\.? )(?P<num>{_NUM}))(?![a-z0-9])"
)
_EXEMPTION_SECTIONS: Final = frozenset({12, 14, *range(21, 45)})
_EXCEPTION_REGULATIONS: Final = frozenset({12, 13})


def _tidy(num: str) -> str:
    """'43 (2)(c)' -> '43(2)(c)'; '22a' -> '22A'; '(5b)' -> '(5B)'."""
    num = num.replace(" ", "")
    head, _, rest = num.partition("(")
    parts = [p.rstrip(")") for p in rest.split("(")] if rest else []
    parts = [p.upper() if p[:1].isdigit() else p for p in parts]
    return head.upper() + "".join(f"({p})" for p in parts)


def cited_sections(text: str) -> tuple[str, ...]:
    """Exemptions and refusal grounds cited in `text`, normalised, first mention first."""
    found: list[str] = []
    for m in _CITE.finditer(fold(text)):
        prefix = m.group("many") or m.group("one")
        is_reg = prefix.startswith("reg")
        listed = re.sub(_DESC, "", m.group("list") or "")
        numbers = re.split(_SEP, listed) if listed else [m.group("num")]
        for raw in numbers:
            tidy = _tidy(raw)
            base = int(re.findall(r"\d+", tidy)[0])
            wanted = _EXCEPTION_REGULATIONS if is_reg else _EXEMPTION_SECTIONS
            if base in wanted:
                found.append(f"{'regulation' if is_reg else 'section'} {tidy}")
    unique = list(dict.fromkeys(found))
    # A bare "section 43" adds nothing once "section 43(2)" is cited.
    return tuple(c for c in unique if not any(o.startswith(c + "(") for o in unique))
