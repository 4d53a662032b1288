"""The laws a case can run under, the events that move its clock, and a computed deadline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class Law(StrEnum):
    """A statutory regime with its own clock."""

    FOIA = "foia"
    EIR = "eir"
    FOISA = "foisa"
    SAR = "sar"
    REVIEW_FOIA = "review_foia"
    REVIEW_EIR = "review_eir"
    REVIEW_FOISA = "review_foisa"
    EISR = "eisr"
    REVIEW_EISR = "review_eisr"

    @property
    def is_review(self) -> bool:
        """True for internal review (reconsideration) regimes."""
        return self.value.startswith("review_")

    @property
    def full_name(self) -> str:
        """The law's full name, as an applicant would read it."""
        return _TITLES[self]

    def review_law(self) -> Law:
        """The review regime that follows a response under this law."""
        return {
            Law.FOIA: Law.REVIEW_FOIA,
            Law.EIR: Law.REVIEW_EIR,
            Law.FOISA: Law.REVIEW_FOISA,
            Law.EISR: Law.REVIEW_EISR,
        }.get(self, Law.REVIEW_FOIA if not self.is_review else self)


_TITLES = {
    Law.FOIA: "Freedom of Information Act 2000",
    Law.EIR: "Environmental Information Regulations 2004",
    Law.FOISA: "Freedom of Information (Scotland) Act 2002",
    Law.SAR: "UK GDPR right of access (subject access request)",
    Law.REVIEW_FOIA: "internal review under the Freedom of Information Act 2000",
    Law.REVIEW_EIR: "reconsideration under regulation 11 of the Environmental Information "
    "Regulations 2004",
    Law.REVIEW_FOISA: "review under section 20 of the Freedom of Information (Scotland) Act 2002",
    Law.EISR: "Environmental Information (Scotland) Regulations 2004",
    Law.REVIEW_EISR: "review under regulation 16 of the Environmental Information (Scotland) "
    "Regulations 2004",
}


class EventKind(StrEnum):
    """Something that happened to a request and changes its clock."""

    CLARIFICATION_SOUGHT = "clarification_sought"
    CLARIFICATION_RECEIVED = "clarification_received"
    FEES_NOTICE = "fees_notice"
    FEES_PAID = "fees_paid"
    EXTENSION = "extension"


@dataclass(frozen=True)
class ClockEvent:
    """An event on a date; `days` is an extension's length where the law lets it vary."""

    kind: EventKind
    on: date
    days: int | None = None


@dataclass(frozen=True)
class Step:
    """One line of a deadline's explanation: a date and what happened to it."""

    day: date
    note: str


@dataclass(frozen=True)
class Deadline:
    """A computed due date with everything needed to justify it.

    `due` is None while the clock is stopped (awaiting clarification or a fee).
    `basis` cites the rule; `start` is the date the count runs from; `steps` list
    each day skipped and why, and each event applied; `holiday_notes` are one-line
    reasons for holidays inside the counted period (for acknowledgements).
    """

    law: Law
    due: date | None
    basis: str
    start: date
    steps: tuple[Step, ...]
    holiday_notes: tuple[str, ...] = ()
    stopped_reason: str | None = None

    def explanation(self) -> list[str]:
        """The explanation as readable lines, oldest first."""
        lines = [self.basis, f"Counting from {self.start.isoformat()}."]
        lines += [f"{s.day.isoformat()}: {s.note}" for s in self.steps]
        if self.due is None:
            lines.append(f"No due date while {self.stopped_reason or 'the clock is stopped'}.")
        else:
            lines.append(f"Due {self.due.isoformat()}.")
        return lines
