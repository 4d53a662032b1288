"""Finding the case a message belongs to: thread, reference, unique sender, then sender + subject.

The database look-ups gather candidates; `resolve` decides from them as plain data, so a forged
or mistyped reference is flagged for a person instead of attaching mail to someone else's case.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from foi_mailbot.cases.senders import ACTING_KINDS, Dmarc, sender_check
from foi_mailbot.classify.base import Classification, FoundRef
from foi_mailbot.parsing.parsed import ParsedMail
from foi_mailbot.storage import queries
from foi_mailbot.storage.models import Case

# WhatDoTheyKnow (and Alaveteli sites) give each request its own reply address.
_PER_REQUEST_SENDER = re.compile(r"^request-\d+-[0-9a-f]+@", re.IGNORECASE)
SAME_SENDER_AND_SUBJECT = "same sender and same subject as this case"
"""How a thread found only by its sender and subject is described: a guess, not a reply."""
_SUBJECT_NOISE = re.compile(r"^\s*((re|fw|fwd|aw|sv)\s*:\s*|\[[^\]]*\]\s*)+", re.IGNORECASE)


@dataclass(frozen=True)
class Thread:
    """The case a message threads into before its text is read, and how that was found."""

    case: Case | None
    how: str | None
    # The sender's cases, looked up when the headers found no thread (never for staff mail).
    sender_cases: tuple[queries.SenderCase, ...] = ()

    @property
    def sender_open_cases(self) -> tuple[str, ...]:
        """References of the sender's open cases, when the message threads into no case:
        classification is told them (a reply-shaped message from them is never a request)."""
        if self.case is not None:
            return ()
        return tuple(case.reference for case in self.sender_cases if case.open)


@dataclass(frozen=True)
class Match:
    """The case a message is attached to, how, and anything a person must check."""

    case: Case | None
    how: str | None
    flags: tuple[str, ...] = ()


def normalise_subject(subject: str) -> str:
    """A subject without Re:/Fwd: prefixes and bracketed tags, lower-cased."""
    return " ".join(_SUBJECT_NOISE.sub("", subject).split()).lower()


def find_thread(session: Session, mail: ParsedMail, *, staff: bool = False) -> Thread:
    """Candidate case from message threading, a per-request sender, or sender and subject
    (a case merged into another answers with that one)."""
    replied_to = queries.case_replied_to(session, mail.thread_ids)
    if replied_to is not None:
        return Thread(replied_to, "replies to a message on this case")
    if staff or mail.from_addr is None:
        return Thread(None, None)
    sender = mail.from_addr.email
    cases = tuple(queries.cases_of_sender(session, sender))
    if _PER_REQUEST_SENDER.match(sender) and cases:
        newest = max(case.id for case in cases)
        how = f"sender {sender} is the reply address of one request"
        return Thread(queries.merged_or_self(session, session.get(Case, newest)), how, cases)
    wanted = normalise_subject(mail.subject)
    same_subject = [
        case.id for case in cases if wanted and normalise_subject(case.subject) == wanted
    ]
    if same_subject:
        found = queries.merged_or_self(session, session.get(Case, max(same_subject)))
        return Thread(found, SAME_SENDER_AND_SUBJECT, cases)
    return Thread(None, None, cases)


def resolve(
    session: Session,
    mail: ParsedMail,
    thread: Thread,
    verdict: Classification,
    *,
    staff: bool = False,
    dmarc: Dmarc = Dmarc.NONE,
) -> Match:
    """The case to attach to (see `_resolve`); mail that would act on it from anyone but its
    requester (or staff), however it was found, is flagged and changes nothing."""
    match = _resolve(session, mail, thread, verdict, staff=staff)
    if staff or match.case is None or verdict.kind not in ACTING_KINDS:
        return match
    if "reference_from_other_sender" in match.flags:
        return match
    flag = sender_check(mail, match.case.applicant_email, dmarc)
    if flag is not None and _accepted(session, mail, match.case, dmarc):
        flag = None
    return match if flag is None else Match(match.case, match.how, (*match.flags, flag))


def _accepted(session: Session, mail: ParsedMail, case: Case, dmarc: Dmarc) -> bool:
    """True when a person accepted this sender on the case (`accept sender`): it then acts as
    the requester does, on the same terms."""
    accepted = queries.accepted_sender(session, case.reference)
    return accepted is not None and sender_check(mail, accepted, dmarc) is None


def _resolve(
    session: Session,
    mail: ParsedMail,
    thread: Thread,
    verdict: Classification,
    *,
    staff: bool = False,
) -> Match:
    """The case to attach to, weighing the reference quoted against the thread.

    Staff may quote any case's reference; anyone else quoting a reference that is not theirs
    is attached but flagged, never silently accepted.
    """
    flags: list[str] = []
    if "mistyped_reference" in verdict.flags:
        flags.append("mistyped_reference")
    if verdict.reference is None:
        return Match(thread.case, thread.how, tuple(flags))
    case = queries.case_by_reference(session, verdict.reference)
    if case is None:
        flags.append("unknown_reference")
        return Match(thread.case, thread.how, tuple(flags))
    if thread.case is not None and thread.case.id != case.id:
        # Threading is the stronger signal; the quoted reference may be an older case.
        return Match(thread.case, thread.how, tuple(flags))
    sender = mail.from_addr.email if mail.from_addr else ""
    if not staff and thread.case is None and sender != case.applicant_email.lower():
        flags.append("reference_from_other_sender")
    if thread.case is not None and not _quotes(mail, case.reference):
        # The reference came from the thread, not from the text.
        return Match(case, thread.how, tuple(flags))
    return Match(case, f"quotes the reference {case.reference}", tuple(flags))


def _quotes(mail: ParsedMail, reference: str) -> bool:
    """True when the subject or the new text names `reference` (any case, any dash)."""
    wanted = re.sub(r"[^A-Z0-9]", "", reference.upper())
    said = re.sub(r"[^A-Z0-9]", "", f"{mail.subject}\n{mail.new_text}".upper())
    return wanted in said


# How far into a staff message a quoted reference still names its case: the subject, or the
# first lines, where our reminders ask staff to put it ("IC-000123-N1W5: extension").
_STAFF_HEAD_LINES = 8


def staff_quoted_case(
    session: Session, mail: ParsedMail, find_references: Callable[[str], list[FoundRef]]
) -> Match | None:
    """The case a staff message names by reference in its subject or first lines, threaded or
    not; None when it names none. A reference that checks out but is not one of our cases is
    flagged; a mistyped one is flagged by classification and never guessed."""
    head = "\n".join([line for line in mail.new_text.splitlines() if line.strip()][
        :_STAFF_HEAD_LINES])
    for where, text in (("subject", mail.subject), ("first lines", head)):
        valid = [found for found in find_references(text) if found.valid]
        if not valid:
            continue
        reference = valid[0].reference
        case = queries.case_by_reference(session, reference)
        if case is None:
            return Match(None, None, ("unknown_reference",))
        return Match(case, f"staff mail that quotes the reference {reference} in its {where}")
    return None
