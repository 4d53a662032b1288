"""What a staff message does to its case: clarify, extend, respond... with reasons (pure).

The case service's staff step calls `infer_staff_action()` for mail classified as STAFF and
matched to a case; `event_for()` gives the lifecycle `Event` an action means in a given state.

A subject tag always wins. Tags are case-insensitive, may sit anywhere in the subject,
and take an optional argument after a space or a colon:

    [clarify]  [fees]  [paid]  [reopen]  [ack]
    [extend]  [extend 2026-01-15]  [extend 15/01/2026]  [extend 20]   (a date, or working days)
    [respond]  [respond: refused]   (provided | partly | refused | not held | ncnd)
    [close]  [close: withdrawn]
    [review-outcome]  [review-outcome: upheld]   (upheld | overturned | partly)

Bracketed text that is none of these ([EXTERNAL], [OFFICIAL]) is ignored. Without a tag the
kind is read from the sender's own words (quoted history is cut off) by the first row of a
fixed order that matches (see `_decide`). Details a tag leaves out, such as the outcome or the
new due date, are still read from the text. Dates are UK style; a stated date before `today`
is never taken as a new due date.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Final, TypeVar

from foi_mailbot.cases.lifecycle import Event, State
from foi_mailbot.parsing.parsed import ParsedMail


class ActionKind(StrEnum):
    """What a staff message does to its case."""

    CLARIFY = "clarify"
    EXTEND = "extend"
    FEES = "fees"
    PAID = "paid"
    RESPOND = "respond"
    CLOSE = "close"
    REOPEN = "reopen"
    REVIEW_OUTCOME = "review_outcome"
    ACKNOWLEDGE = "acknowledge"
    OTHER = "other"


class Outcome(StrEnum):
    """How a request was answered, or why it ended without an answer."""

    INFORMATION_PROVIDED = "information_provided"
    PARTLY_PROVIDED = "partly_provided"
    REFUSED = "refused"
    NOT_HELD = "not_held"
    NEITHER_CONFIRM_NOR_DENY = "neither_confirm_nor_deny"
    WITHDRAWN = "withdrawn"


class ReviewOutcome(StrEnum):
    """What an internal review decided about the original response."""

    UPHELD = "upheld"
    OVERTURNED = "overturned"
    PARTLY = "partly"


@dataclass(frozen=True)
class StaffAction:
    """The inferred action and why.

    `tag` is the subject tag as written (e.g. "[extend 2026-01-15]"), or None.
    `new_due` and `extension_days` are set for extensions when stated; `sections` are the
    exemptions and refusal grounds cited (FOIA ss.12, 14, 21-44; EIR regs 12 and 13),
    normalised as "section 43(2)" or "regulation 12(5)(e)", in order of first mention.
    """

    kind: ActionKind
    reasons: tuple[str, ...]
    tag: str | None = None
    new_due: date | None = None
    extension_days: int | None = None
    outcome: Outcome | None = None
    sections: tuple[str, ...] = ()
    review_outcome: ReviewOutcome | None = None


_EVENTS: Final[Mapping[ActionKind, Event]] = {
    ActionKind.CLARIFY: Event.CLARIFICATION_SOUGHT,
    ActionKind.EXTEND: Event.EXTENDED,
    ActionKind.FEES: Event.FEES_NOTICE,
    ActionKind.PAID: Event.FEES_PAID,
    ActionKind.RESPOND: Event.RESPONDED,
    ActionKind.CLOSE: Event.CLOSED,
    ActionKind.REOPEN: Event.REOPENED,
    ActionKind.REVIEW_OUTCOME: Event.REVIEW_OUTCOME,
    ActionKind.ACKNOWLEDGE: Event.ACKNOWLEDGED,
    ActionKind.OTHER: Event.CORRESPONDENCE,
}


def event_for(action: StaffAction, state: State) -> Event:
    """The lifecycle event for `action` on a case in `state`."""
    if action.kind is ActionKind.CLOSE and state is State.AWAITING_CLARIFICATION:
        return Event.CLOSED_NO_CLARIFICATION
    return _EVENTS[action.kind]


# --- phrase groups ------------------------------------------------------------------------
# Matched against lower-cased text with runs of whitespace folded to one space.

_Group = tuple[re.Pattern[str], ...]


def _g(*sources: str) -> _Group:
    return tuple(re.compile(rf"(?<![a-z0-9])(?:{s})(?![a-z0-9])") for s in sources)


_SECTION_1_3 = r"(?:section|s\.) ?1 ?\(3\)"
_NUM_WORD = r"(?:\d{1,2}|ten|fifteen|twenty|thirty|forty|sixty)"
_YOUR = r"(?:your|this|the)"
_REVIEW_CONTEXT = _g(
    r"internal review", r"reconsideration",
    r"review of (?:our|the) (?:original )?(?:response|decision|handling)",
)
_REVIEW_PARTLY = _g(
    r"partially upheld", r"partly upheld", r"upheld in part", r"partially uphold",
    r"uphold(?:ing)? (?:\w+ ){0,4}in part",
)
_REVIEW_OVERTURNED = _g(
    r"overturn(?:ed|ing)?", r"revers(?:e|ed|ing) the original decision",
    r"should not have been withheld", r"original (?:decision|response) was (?:wrong|incorrect)",
)
_REVIEW_UPHELD = _g(
    r"uph[eo]ld (?:the|our) original", r"original (?:decision|response) (?:is|was|has been) upheld",
    r"decided to uphold", r"(?:i|we) uphold", r"(?:i am|we are) upholding",
    r"(?:was|were) correctly applied", r"the original response was correct",
)
_REOPEN = _g(
    rf"re-?opened {_YOUR} request", rf"re-?opening {_YOUR} request",
    rf"{_YOUR} request (?:has been|is now|is being) re-?opened",
)
_WITHDRAWN = _g(
    rf"(?:treat|consider)(?:s|ing|ed)? {_YOUR} request (?:as|to be|to have been) withdrawn",
    r"you have withdrawn", rf"withdrawal of {_YOUR} request",
    rf"(?:wish|want) to withdraw {_YOUR} request", r"no longer (?:wish|want) to (?:pursue|proceed)",
)
_CLOSE = _WITHDRAWN + _g(
    rf"(?:have|has) (?:now )?closed {_YOUR} (?:request|case)",
    rf"{_YOUR} (?:request|case) has (?:now )?been closed",
    rf"(?:are|am) (?:now )?closing {_YOUR} (?:request|case)",
)
_PAID = _g(
    r"payment received", r"received (?:your|the) (?:payment|fee)", r"received payment",
    r"fee has (?:now )?been (?:paid|received)", r"thank you for (?:your|the) payment",
    r"payment (?:of £ ?[\d.,]+ )?has (?:now )?been received",
)
_FEES = _g(
    r"fees? notice", r"(?:section|s\.) ?9(?: ?\(\d\))?", r"fee of £ ?\d", r"charge of £ ?\d",
    r"(?:regulation|reg\.?) ?8(?: ?\(\d\))?", r"advance payment",
)
_CLARIFY = _g(
    r"(?:could|can|would) you (?:please )?clarify", r"please (?:could you )?clarify",
    r"if you (?:could|would|can) (?:please )?clarify", _SECTION_1_3,
    r"(?:regulation|reg\.?) ?9(?: ?\(\d\))?", r"identify and locate",
    r"(?:we|i) need (?:more|further) (?:information|details)",
    r"not clear (?:to us )?what information", r"please provide (?:more|further) details?",
)
_EXTEND_STRONG = _g(
    r"(?:section|s\.) ?10 ?\(3\)", r"(?:regulation|reg\.?) ?7(?: ?\(\d\))?",
    r"extend(?:ing|ed)? (?:the )?(?:time|deadline|response|period|date)", r"an extension",
    r"complex and voluminous", r"complexity and volume", r"(?:more|further|additional) time",
    rf"(?:further|additional|extra|another) {_NUM_WORD} working days",
    r"(?:will now|now (?:aim|expect|intend|hope) to) respond (?:to you )?by",
    r"(?:new|revised) (?:due date|deadline|target date)",
)
_EXTEND_WEAK = _g(r"public interest test", r"public interest")
_NCND = _g(r"neither confirm(?:s|ing)? nor deny", r"ncnd")
_NOT_HELD = _g(
    r"(?:we|i) do(?:es)? not hold", r"(?:does|do) not hold",
    r"(?:information|it) (?:is )?not held",
    r"(?:holds?|held) no (?:recorded )?information",
    r"no (?:recorded )?information (?:is|was) held",
)
_WITHHELD = _g(
    r"refusal notice", r"is refused", rf"refuse {_YOUR} request", r"(?:is|are) exempt",
    r"exempt from disclosure", r"exceeds? the (?:appropriate|cost) limit", r"vexatious",
    r"manifestly unreasonable", r"(?:section|s\.) ?17 ?(?:\(\d\))?", r"withholding",
)
_PROVIDED = _g(
    r"the information (?:you (?:have )?requested |requested )?is attached",
    r"(?:we|i) (?:are|am) (?:able|pleased) to provide", r"i can confirm the following",
    r"please (?:find|see) (?:attached|enclosed|below) the (?:requested )?information",
    r"can now (?:provide|respond|response)", r"the information is as follows",
    r"this concludes our response", r"i hope (?:that )?(?:you find )?(?:this|the) information",
)
_PARTIAL = _g(r"partially", r"partly", r"some of the information", r"in part", r"redact\w*")
_ATTACHED = _g(r"please (?:find|see) (?:attached|enclosed)")
_WITHHELD_WEAK = _g(r"withheld", r"exempt under")
_WITHHELD_ANY = _WITHHELD + _WITHHELD_WEAK
_RESPOND_WEAK = _PARTIAL + _ATTACHED + _WITHHELD_WEAK
_ACK = _g(
    r"(?:we|i) acknowledge receipt", r"acknowledge receipt of",
    r"(?:this|email) is to acknowledge", r"to acknowledge (?:your|the) request",
)
_ACK_THANKS = _g(r"thank you for your (?:recent )?(?:request|email|e-mail)")
_ACK_PROMISE = _g(
    r"we will respond", r"(?:response|reply) (?:to your request )?(?:is|will be) due",
    r"respond within", r"will be allocated", r"we (?:have )?received your request",
)

# Preceding words (same sentence) that turn a statement into a denial or a condition.
_NEGATED = re.compile(r"(?:\bnot\b|n't\b|\bnever\b|\byet to\b)[^.!?;,]{0,15}$")
_CONDITIONAL = re.compile(r"\b(?:if|will|would|shall|unless|where|whether|may)\b[^.!?;,]{0,30}$")
_IF = re.compile(r"\b(?:if|unless|should)\b[^.!?;,]{0,60}$")
_GUARD_WINDOW = 70


def _find(text: str, group: _Group, *guards: re.Pattern[str]) -> str | None:
    """The first phrase of `group` in `text` that no guard disqualifies."""
    for pattern in group:
        for m in pattern.finditer(text):
            before = text[max(0, m.start() - _GUARD_WINDOW) : m.start()]
            if not any(g.search(before) for g in guards):
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


def _fold(text: str) -> str:
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u00a0", " ")
    return re.sub(r"\s+", " ", text.lower())


# --- sections cited -------------------------------------------------------------------------

_NUM = r"\d{1,3}[a-z]?(?: ?\( ?[0-9a-z]{1,5} ?\))*"
_SEP = r"(?:, ?| and | or | & |/)"
# Only a plural ("sections 40 and 41") may introduce a list, so "section 43 and 12 months"
# cites one section; a bare "s" counts only when a digit follows at once ("s43").
_CITE = re.compile(
    r"(?<![a-z0-9])(?:(?P<many>sections |ss\. ?|regulations |regs\.? )"
    rf"(?P<list>{_NUM}(?:{_SEP}{_NUM})*)"
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
    for m in _CITE.finditer(_fold(text)):
        prefix = m.group("many") or m.group("one")
        is_reg = prefix.startswith("reg")
        numbers = re.split(_SEP, m.group("list")) if m.group("list") else [m.group("num")]
        for raw in numbers:
            tidy = _tidy(raw)
            base = int(re.findall(r"\d+", tidy)[0])
            wanted = _EXCEPTION_REGULATIONS if is_reg else _EXEMPTION_SECTIONS
            if base in wanted:
                found.append(f"{'regulation' if is_reg else 'section'} {tidy}")
    unique = list(dict.fromkeys(found))
    # A bare "section 43" adds nothing once "section 43(2)" is cited.
    return tuple(c for c in unique if not any(o.startswith(c + "(") for o in unique))


# --- dates and lengths -------------------------------------------------------------------

_MONTHS: Final = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_MONTH = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_DATE = re.compile(
    r"(?<![0-9])(?:(?P<d1>\d{1,2})(?:st|nd|rd|th)? (?:of )?"
    rf"(?P<m1>{_MONTH})\.?(?:,? (?P<y1>\d{{4}}))?"
    r"|(?P<d2>\d{1,2})[/.](?P<m2>\d{1,2})[/.](?P<y2>\d{4}|\d{2})"
    r"|(?P<y3>\d{4})-(?P<m3>\d{2})-(?P<d3>\d{2}))(?![0-9a-z])"
)
_DUE_CUE = re.compile(
    r"(?:\bby|\bbefore|\buntil|\bthan|\bto|\bdeadline(?: is)?|\bdate(?: is)?|\bdue(?: on)?)"
    r" (?:the )?(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day,? )?(?:the )?$"
)
_NUMBERS: Final = {"ten": 10, "fifteen": 15, "twenty": 20, "thirty": 30, "forty": 40, "sixty": 60}
_FURTHER_DAYS = re.compile(rf"(?:further|additional|extra|another) (?P<n>{_NUM_WORD}) working days")
_EXTEND_TO = re.compile(rf"extend\w*[^.]{{0,40}}? to (?P<n>{_NUM_WORD}) working days")
_EXTEND_BY = re.compile(rf"extend\w*[^.]{{0,40}}? by (?P<n>{_NUM_WORD}) working days")


def _as_date(m: re.Match[str], today: date) -> date | None:
    """The date a `_DATE` match names; a date without a year is its next occurrence."""
    d, mo, y = (m.group("d1"), m.group("m1"), m.group("y1"))
    if d is None:
        d, mo, y = (m.group("d2"), m.group("m2"), m.group("y2"))
        if d is None:
            d, mo, y = (m.group("d3"), m.group("m3"), m.group("y3"))
    month = _MONTHS[mo[:3]] if mo.isalpha() else int(mo)
    year = int(y) + 2000 if y and len(y) == 2 else int(y) if y else today.year
    try:
        found = date(year, month, int(d))
    except ValueError:
        return None
    if y is None and found < today:
        found = found.replace(year=today.year + 1)
    return found


def _stated_due(text: str, today: date) -> tuple[date, str] | None:
    """A future due date stated in `text`, and the words that gave it.

    The first date introduced by 'by', 'until', 'no later than'... wins; failing that, the
    only future date with a year. Dates before `today` are ignored.
    """
    cued: list[tuple[date, str]] = []
    plain: list[tuple[date, str]] = []
    for m in _DATE.finditer(text):
        found = _as_date(m, today)
        has_year = bool(m.group("y1") or m.group("y2") or m.group("y3"))
        if found is None or found < today:
            continue
        before = text[max(0, m.start() - 40) : m.start()]
        if _DUE_CUE.search(before):
            cued.append((found, m.group(0)))
        elif has_year:
            plain.append((found, m.group(0)))
    if cued:
        return cued[0]
    return plain[0] if len(plain) == 1 else None


def _number(word: str) -> int:
    return int(word) if word.isdigit() else _NUMBERS[word]


def _extension_days(text: str) -> tuple[int, str] | None:
    """A stated extension length in working days ('a further 20 working days')."""
    for pattern, over in ((_FURTHER_DAYS, 0), (_EXTEND_BY, 0), (_EXTEND_TO, 20)):
        m = pattern.search(text)
        if m and _number(m.group("n")) > over:
            return _number(m.group("n")) - over, m.group(0)
    return None


# --- outcomes -------------------------------------------------------------------------------


def _outcome(text: str) -> tuple[Outcome, str] | None:
    """How a response answered the request, and the phrase that shows it."""
    provided = _find(text, _PROVIDED, _NEGATED)
    withheld = _find(text, _WITHHELD_ANY, _NEGATED, _IF)
    not_held = _find(text, _NOT_HELD, _IF)
    ncnd = _find(text, _NCND, _IF)
    partial = _find(text, _PARTIAL)
    if ncnd and not provided:
        return Outcome.NEITHER_CONFIRM_NOR_DENY, ncnd
    if partial:
        return Outcome.PARTLY_PROVIDED, partial
    if provided and (withheld or not_held):
        return Outcome.PARTLY_PROVIDED, f"{provided}\" with \"{withheld or not_held}"
    if withheld:
        return Outcome.REFUSED, withheld
    if not_held:
        return Outcome.NOT_HELD, not_held
    provided = provided or _find(text, _ATTACHED)
    return (Outcome.INFORMATION_PROVIDED, provided) if provided else None


def _review_outcome(text: str) -> tuple[ReviewOutcome, str] | None:
    """What an internal review decided; 'partly upheld' is read before 'upheld'."""
    for outcome, group in (
        (ReviewOutcome.PARTLY, _REVIEW_PARTLY),
        (ReviewOutcome.OVERTURNED, _REVIEW_OVERTURNED),
        (ReviewOutcome.UPHELD, _REVIEW_UPHELD),
    ):
        phrase = _find(text, group, _NEGATED, _CONDITIONAL)
        if phrase:
            return outcome, phrase
    return None


# --- subject tags ---------------------------------------------------------------------------

_TAG = re.compile(r"\[([^\[\]]{1,60})\]")
_TAG_HEAD = re.compile(r"(?P<name>[a-z]+(?:[-_ ]outcome)?)(?![a-z])\s*:?\s*(?P<arg>.*)", re.S)
_TAG_KINDS: Final[Mapping[str, ActionKind]] = {
    "clarify": ActionKind.CLARIFY, "clarification": ActionKind.CLARIFY,
    "extend": ActionKind.EXTEND, "extension": ActionKind.EXTEND,
    "fees": ActionKind.FEES, "fee": ActionKind.FEES, "paid": ActionKind.PAID,
    "respond": ActionKind.RESPOND, "response": ActionKind.RESPOND,
    "close": ActionKind.CLOSE, "reopen": ActionKind.REOPEN,
    "review-outcome": ActionKind.REVIEW_OUTCOME,
    "ack": ActionKind.ACKNOWLEDGE, "acknowledge": ActionKind.ACKNOWLEDGE,
}
_OUTCOME_ARGS: Final[Mapping[str, Outcome]] = {
    "provided": Outcome.INFORMATION_PROVIDED, "full": Outcome.INFORMATION_PROVIDED,
    "disclosed": Outcome.INFORMATION_PROVIDED, "partly": Outcome.PARTLY_PROVIDED,
    "partial": Outcome.PARTLY_PROVIDED, "partlyprovided": Outcome.PARTLY_PROVIDED,
    "refused": Outcome.REFUSED, "refusal": Outcome.REFUSED, "notheld": Outcome.NOT_HELD,
    "ncnd": Outcome.NEITHER_CONFIRM_NOR_DENY, "withdrawn": Outcome.WITHDRAWN,
}
_REVIEW_ARGS: Final[Mapping[str, ReviewOutcome]] = {
    "upheld": ReviewOutcome.UPHELD, "uphold": ReviewOutcome.UPHELD,
    "overturned": ReviewOutcome.OVERTURNED, "overturn": ReviewOutcome.OVERTURNED,
    "partly": ReviewOutcome.PARTLY, "partial": ReviewOutcome.PARTLY,
    "partlyupheld": ReviewOutcome.PARTLY, "partiallyupheld": ReviewOutcome.PARTLY,
}
_T = TypeVar("_T")
_TAG_DAYS = re.compile(r"(?P<n>\d{1,2}) ?(?:wd|working days?|days?)?")


@dataclass(frozen=True)
class _Tag:
    kind: ActionKind
    text: str
    arg: str


def _find_tag(subject: str) -> _Tag | None:
    """The first known tag in `subject`; unknown bracketed words are skipped."""
    for m in _TAG.finditer(subject):
        head = _TAG_HEAD.fullmatch(_fold(m.group(1)).strip())
        if head is None:
            continue
        name = re.sub(r"[_ ]", "-", head.group("name"))
        if name in _TAG_KINDS:
            return _Tag(_TAG_KINDS[name], m.group(0), head.group("arg").strip())
    return None


# --- deciding -------------------------------------------------------------------------------

_RESPOND_STRONG = _NCND + _NOT_HELD + _WITHHELD + _PROVIDED
# Rows tried in order before the extension/response rows; see `_decide`.
_EARLY_ROWS: Final = (
    (ActionKind.REOPEN, _REOPEN, (_NEGATED, _CONDITIONAL)),
    (ActionKind.CLOSE, _CLOSE, (_NEGATED, _CONDITIONAL)),
    (ActionKind.PAID, _PAID, (_NEGATED, _IF)),
    (ActionKind.FEES, _FEES, (_NEGATED, _IF)),
    (ActionKind.CLARIFY, _CLARIFY, (_IF,)),
)


def _said(phrase: str) -> str:
    return f'"{phrase}" in the new text'


_Decision = tuple[ActionKind, list[str]]


def _decide(text: str, today: date) -> _Decision:
    """The kind of an untagged message; the first row that matches wins.

    1. "internal review" with an outcome (upheld, overturned, partly upheld): review outcome.
    2. reopened; closed or withdrawn; payment received (before the fees row, because a
       receipt names the fees notice); fees notice; a clarification question (before
       any response row: a part answer that asks about the rest leaves the case waiting).
    3. An extension phrase and a response phrase together: an extension only when a future
       due date is stated (a response often recalls an earlier extension).
    4. extension; response; "we acknowledge receipt"; weaker response phrases ("please find
       attached", "withheld"); thanks with a promise to respond; "public interest" alone.
    5. Otherwise: other.
    """
    for row in (_review_row, _early_rows, _extend_or_respond_rows, _late_rows):
        decided = row(text, today)
        if decided:
            return decided
    return ActionKind.OTHER, ["no tag and no known phrase in the new text"]


def _review_row(text: str, today: date) -> _Decision | None:
    context = _find(text, _REVIEW_CONTEXT)
    review = _review_outcome(text) if context else None
    if context and review:
        return ActionKind.REVIEW_OUTCOME, [f'"{context}" with "{review[1]}" in the new text']
    return None


def _early_rows(text: str, today: date) -> _Decision | None:
    for kind, group, guards in _EARLY_ROWS:
        phrase = _find(text, group, *guards)
        if phrase:
            return kind, [_said(phrase)]
    return None


def _extend_or_respond_rows(text: str, today: date) -> _Decision | None:
    extend = _find(text, _EXTEND_STRONG, _NEGATED, _IF)
    respond = _find(text, _RESPOND_STRONG, _NEGATED, _IF)
    if extend and respond:
        due = _stated_due(text, today)
        kind = ActionKind.EXTEND if due else ActionKind.RESPOND
        why = "a future due date is stated" if due else "no future due date is stated"
        return kind, [f'both "{extend}" and "{respond}" in the new text; {why}']
    if extend:
        return ActionKind.EXTEND, [_said(extend)]
    return (ActionKind.RESPOND, [_said(respond)]) if respond else None


def _late_rows(text: str, today: date) -> _Decision | None:
    ack = _find(text, _ACK, _NEGATED)
    if ack:
        return ActionKind.ACKNOWLEDGE, [_said(ack)]
    weak = _find(text, _RESPOND_WEAK, _NEGATED, _IF)
    if weak:
        return ActionKind.RESPOND, [_said(weak)]
    thanks, promise = _find(text, _ACK_THANKS), _find(text, _ACK_PROMISE, _NEGATED, _IF)
    if thanks and promise:
        return ActionKind.ACKNOWLEDGE, [f'"{thanks}" with "{promise}" in the new text']
    pit = _find(text, _EXTEND_WEAK, _NEGATED, _IF)
    return (ActionKind.EXTEND, [_said(pit)]) if pit else None


@dataclass(frozen=True)
class _Details:
    new_due: date | None = None
    extension_days: int | None = None
    outcome: Outcome | None = None
    review_outcome: ReviewOutcome | None = None


def _extension(text: str, arg: str, today: date, reasons: list[str]) -> _Details:
    """New due date and length: the tag's argument first, then the text."""
    due: date | None = None
    days: int | None = None
    tag_date = _DATE.fullmatch(arg) if arg else None
    tag_days = _TAG_DAYS.fullmatch(arg) if arg else None
    if tag_date:
        found = _as_date(tag_date, today)
        if found is None or found < today:
            reasons.append(f'date "{arg}" in the tag is not a future date; ignored')
        else:
            due = found
            reasons.append(f"new due date {due.isoformat()} from the tag")
    elif tag_days:
        days = int(tag_days.group("n"))
        reasons.append(f"extension of {days} working days from the tag")
    elif arg:
        reasons.append(f'tag argument "{arg}" not understood; ignored')
    if due is None:
        stated = _stated_due(text, today)
        if stated:
            due = stated[0]
            reasons.append(f'new due date {due.isoformat()} from "{stated[1]}"')
    if days is None:
        length = _extension_days(text)
        if length:
            days = length[0]
            reasons.append(f'extension of {days} working days from "{length[1]}"')
    return _Details(new_due=due, extension_days=days)


def _tag_choice(arg: str, choices: Mapping[str, _T], reasons: list[str]) -> _T | None:
    """The value a tag argument names ('not held' and 'not-held' alike), else None."""
    if not arg:
        return None
    chosen = choices.get(re.sub(r"[^a-z]", "", arg))
    reasons.append(f'"{arg}" from the tag' if chosen else f'tag argument "{arg}" not understood')
    return chosen


def _details(kind: ActionKind, text: str, arg: str, today: date, reasons: list[str]) -> _Details:
    """The details that go with `kind`, from the tag argument or else the text."""
    if kind is ActionKind.EXTEND:
        return _extension(text, arg, today, reasons)
    if kind is ActionKind.RESPOND:
        outcome = _tag_choice(arg, _OUTCOME_ARGS, reasons)
        found = None if outcome else _outcome(text)
        if found:
            outcome = found[0]
            reasons.append(f'outcome {outcome} from "{found[1]}"')
        return _Details(outcome=outcome)
    if kind is ActionKind.REVIEW_OUTCOME:
        review = _tag_choice(arg, _REVIEW_ARGS, reasons)
        found_review = None if review else _review_outcome(text)
        if found_review:
            review = found_review[0]
            reasons.append(f'review outcome {review} from "{found_review[1]}"')
        return _Details(review_outcome=review)
    if kind is ActionKind.CLOSE:
        withdrawn = arg == "withdrawn" or _find(text, _WITHDRAWN, _NEGATED, _CONDITIONAL)
        if withdrawn:
            reasons.append("outcome withdrawn")
        return _Details(outcome=Outcome.WITHDRAWN if withdrawn else None)
    if arg:
        reasons.append(f'tag argument "{arg}" ignored')
    return _Details()


def infer_staff_action(mail: ParsedMail, *, today: date) -> StaffAction:
    """What `mail`, sent by staff, does to its case; `today` bounds stated due dates."""
    text = _fold(own_words(mail))
    tag = _find_tag(mail.subject)
    if tag is not None:
        kind, reasons = tag.kind, [f'subject tag "{tag.text}"']
    else:
        kind, reasons = _decide(text, today)
    details = _details(kind, text, tag.arg if tag else "", today, reasons)
    return StaffAction(
        kind=kind,
        reasons=tuple(reasons),
        tag=tag.text if tag else None,
        new_due=details.new_due,
        extension_days=details.extension_days,
        outcome=details.outcome,
        sections=cited_sections(text),
        review_outcome=details.review_outcome,
    )
