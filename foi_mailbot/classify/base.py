"""The vocabulary of classification: kinds, the rule contract, and the stored verdict."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from foi_mailbot.cases.senders import TrustPolicy
from foi_mailbot.deadlines.laws import Law
from foi_mailbot.parsing.folding import FoldedMail
from foi_mailbot.parsing.parsed import ParsedMail


class Kind(StrEnum):
    """What a message is, as far as the FOI process is concerned."""

    NEW_REQUEST = "new_request"
    CLARIFICATION = "clarification"
    REVIEW_REQUEST = "review_request"
    COPIED = "copied"
    AUTO_REPLY = "auto_reply"
    STAFF = "staff"
    NOT_FOI = "not_foi"


@dataclass(frozen=True)
class FoundRef:
    """A case reference seen in a message, and whether its check suffix is right."""

    text: str
    reference: str
    valid: bool


@dataclass(frozen=True)
class ClassifyContext:
    """Everything classification may know beyond the message itself; all plain data.

    `thread_case` is the reference of the case the message threads into (In-Reply-To or
    References naming a Message-ID we stored or sent, or a sender address unique to one
    request), found by the caller; None when the message starts no known thread.
    """

    mailbox_addresses: frozenset[str]
    staff_domains: frozenset[str] = frozenset()
    staff_addresses: frozenset[str] = frozenset()
    find_references: Callable[[str], list[FoundRef]] = lambda _text: []
    thread_case: str | None = None
    thread_case_is_review: bool = False
    noreply_patterns: tuple[str, ...] = ("noreply", "no-reply", "donotreply", "mailer-daemon")
    extra_review_phrases: tuple[str, ...] = ()
    extra_auto_reply_phrases: tuple[str, ...] = ()
    extra_not_foi_phrases: tuple[str, ...] = ()
    extra_environmental_phrases: tuple[str, ...] = ()
    from_sent_folder: bool = False
    authserv_id: str | None = None
    exchange_internal_marker: bool = False

    @property
    def trust(self) -> TrustPolicy:
        """Who is staff and which authentication header is believed (`cases.senders`)."""
        return TrustPolicy.of(
            self.staff_addresses, self.staff_domains, self.authserv_id,
            exchange_internal_marker=self.exchange_internal_marker,
        )
    # References of the sender's open cases (found by the caller from the register): a
    # reply-shaped message from them is correspondence, never a second request.
    sender_open_cases: tuple[str, ...] = ()
    # Domains of the information regulators (ICO; Scottish Information Commissioner).
    regulator_domains: tuple[str, ...] = ("ico.org.uk", "foi.scot", "itspublicknowledge.info")


@dataclass(frozen=True)
class Verdict:
    """A rule's finding: the kind, and why in plain words."""

    kind: Kind
    reasons: tuple[str, ...]


class Guard(Protocol):
    """One small, named test of a message's headers, sender or plain text, run before its texts
    are folded; returns a Verdict when it decides, else None."""

    name: str

    def check(self, mail: ParsedMail, ctx: ClassifyContext) -> Verdict | None:
        """The verdict when this guard decides the message, else None."""
        ...


class Rule(Protocol):
    """One small, named test of what a message says; returns a Verdict when it decides, else
    None.

    A rule reads the message, its texts as phrases are matched in them (`folded`: the message's
    own fold, made once by `parsing.folding.fold_mail` when the guards have passed it), and the
    context. It keeps nothing between messages.
    """

    name: str

    def check(self, mail: ParsedMail, folded: FoldedMail, ctx: ClassifyContext) -> Verdict | None:
        """The verdict when this rule decides the message, else None."""
        ...


@dataclass(frozen=True)
class Classification:
    """The stored outcome: kind, deciding rule, its reasons, rules that did not match.

    `reference` is the case reference the message refers to (valid suffix), if any;
    `flags` are things a person must look at (e.g. `mistyped_reference`, `subject_access`);
    `law` is the law a new request falls under (FOIA unless environmental);
    `other_references` are references in other systems' formats (the regulator's, another
    body's, our previous system's) found in labelled places, the one that matters first: they
    help a person match mail and never open or move a case.
    """

    kind: Kind
    rule: str
    reasons: tuple[str, ...]
    misses: tuple[str, ...] = ()
    reference: str | None = None
    law: Law | None = None
    flags: tuple[str, ...] = field(default_factory=tuple)
    other_references: tuple[str, ...] = ()
