"""Who sent a message, as far as we can believe it: staff or not, authenticated or not (pure).

A message's From line is a claim. Only the receiving server can vouch for it, and only its own
header counts: the topmost `Authentication-Results` whose authserv-id is the one configured in
`[mailbox] authserv_id` (RFC 8601 s.5: headers further down were added before the mail reached
us, or written by the sender). On Microsoft 365, whose Authentication-Results carry no
authserv-id, the organisation's internal-sender marker `X-MS-Exchange-Organization-AuthAs:
Internal` counts instead when `[mailbox] exchange_internal_marker` is on: Exchange strips its
`X-MS-Exchange-Organization-*` headers from mail arriving from outside, so the topmost such
header is Exchange's own. No header means unauthenticated, never failed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from foi_mailbot.parsing.parsed import Address, ParsedMail

THREAD_FROM_OTHER_SENDER: Final = "not_from_requester"
SENDER_FAILED_AUTHENTICATION: Final = "sender_failed_authentication"
REPLY_TO_ELSEWHERE: Final = "reply_to_elsewhere"
FLAG_TEXT: Final = {
    THREAD_FROM_OTHER_SENDER: "written on a case by someone who is not its requester; "
                              "attached for a person to check, nothing changed",
    SENDER_FAILED_AUTHENTICATION: "our mail server says the sender's address failed DMARC "
                                  "(forged?); attached for a person to check, nothing changed",
    REPLY_TO_ELSEWHERE: "from the requester's address but asks for answers at another one "
                        "(Reply-To; forged?); attached for a person to check, nothing changed",
}
AUTH_RESULTS = "authentication-results"
EXCHANGE_AUTH_AS = "x-ms-exchange-organization-authas"
_COMMENT = re.compile(r"\([^()]*\)")
_DMARC = re.compile(r"(?:^|[\s;])dmarc\s*=\s*([A-Za-z]+)")
_HEADER_FROM = re.compile(r"header\.from\s*=\s*\"?([^\s;\"]+)")


class Dmarc(StrEnum):
    """What the receiving server said about the From domain."""

    PASS = "pass"  # noqa: S105 - a DMARC result, not a password
    FAIL = "fail"
    NONE = "none"  # no trusted verdict: unauthenticated, not failed


class Standing(StrEnum):
    """Whether a message may act as staff."""

    NOT_STAFF = "not_staff"
    ACTS = "acts"  # from the Sent folder, or staff mail the receiving server vouched for
    UNVOUCHED = "unvouched"  # a staff From the server did not vouch for: a person confirms


@dataclass(frozen=True)
class TrustPolicy:
    """The configuration the sender rules read, as plain data."""

    staff_addresses: frozenset[str] = frozenset()
    staff_domains: frozenset[str] = frozenset()
    authserv_id: str | None = None
    exchange_internal_marker: bool = False

    @classmethod
    def of(
        cls,
        staff_addresses: Iterable[str],
        staff_domains: Iterable[str],
        authserv_id: str | None = None,
        *,
        exchange_internal_marker: bool = False,
    ) -> TrustPolicy:
        """A policy with addresses and domains normalised (lower case, no outer dots)."""
        return cls(
            frozenset(a.strip().lower() for a in staff_addresses if a.strip()),
            frozenset(d.strip().strip(".").lower() for d in staff_domains if d.strip(".")),
            authserv_id.strip().lower() if authserv_id and authserv_id.strip() else None,
            exchange_internal_marker,
        )


def is_staff_address(address: Address | None, policy: TrustPolicy) -> bool:
    """True for an address on the staff list or at a staff domain exactly.

    A subdomain is staff only when it is listed itself; no usable address is never staff.
    """
    if address is None or "@" not in address.email:
        return False
    email = address.email.lower()
    return email in policy.staff_addresses or address.domain.lower() in policy.staff_domains


def authserv_id(header: str) -> str | None:
    """The authserv-id an Authentication-Results value opens with (None when it has none)."""
    head = _COMMENT.sub(" ", header).split(";", 1)[0].split()
    if not head or "=" in head[0]:
        return None  # Microsoft 365 writes results with no authserv-id at all
    return head[0].lower()


def dmarc_verdict(mail: ParsedMail, policy: TrustPolicy) -> Dmarc:
    """DMARC for the message's From as the receiving server saw it; NONE when it said nothing.

    Only the topmost Authentication-Results with our authserv-id is read; on Microsoft 365 the
    topmost internal-sender marker, when enabled, counts as a pass.
    """
    if policy.exchange_internal_marker:
        markers = mail.header_values(EXCHANGE_AUTH_AS)
        if markers and markers[0].strip().lower() == "internal":
            return Dmarc.PASS
    if policy.authserv_id is None:
        return Dmarc.NONE
    ours = _topmost_with_id(mail.header_values(AUTH_RESULTS), policy.authserv_id)
    if ours is None:
        return Dmarc.NONE
    return _dmarc_in(ours, mail.from_addr)


def _topmost_with_id(values: Sequence[str], wanted: str) -> str | None:
    return next((value for value in values if authserv_id(value) == wanted), None)


def _dmarc_in(header: str, sender: Address | None) -> Dmarc:
    results = _COMMENT.sub(" ", header).split(";", 1)
    body = results[1] if len(results) == 2 else ""
    found = _DMARC.search(body)
    if found is None:
        return Dmarc.NONE
    verdict = found.group(1).lower()
    if verdict == "fail":
        return Dmarc.FAIL
    if verdict != "pass":
        return Dmarc.NONE
    # A pass is about the domain it names; it vouches for our From only when that is the same.
    named = _HEADER_FROM.search(body[found.start():])
    if named and sender is not None and named.group(1).lower() != sender.domain.lower():
        return Dmarc.NONE
    return Dmarc.PASS


def standing(mail: ParsedMail, policy: TrustPolicy, *, from_sent_folder: bool) -> Standing:
    """Whether the message acts as staff: Sent-folder mail does; inbox mail needs a vouched pass."""
    if from_sent_folder:
        return Standing.ACTS
    if not is_staff_address(mail.from_addr, policy):
        return Standing.NOT_STAFF
    if dmarc_verdict(mail, policy) is Dmarc.PASS:
        return Standing.ACTS
    return Standing.UNVOUCHED


def unvouched_reason(policy: TrustPolicy) -> str:
    """Why staff mail in the inbox was not believed, in words for the person confirming it."""
    if policy.authserv_id is None and not policy.exchange_internal_marker:
        return ("The staff From was not vouched for by our mail server "
                "([mailbox] authserv_id is not set), so its action waits for a person.")
    return ("Our mail server's Authentication-Results do not say DMARC passed for this staff "
            "From, so its action waits for a person.")


ACTING_KINDS: Final = frozenset({"clarification", "review_request"})
"""Kinds of mail that change a case (restart its clock, open a review): the requester's only."""


def sender_check(mail: ParsedMail, requester_email: str, dmarc: Dmarc) -> str | None:
    """None when mail acting on a case is from its requester; else the flag saying why not.

    With no trusted header the address match stands; a From whose DMARC failed is not believed,
    nor one asking for answers elsewhere (a Reply-To that is not the requester's: a forged From
    needs one to see the answer).
    """
    requester = requester_email.lower()
    if mail.from_addr is None or mail.from_addr.email.lower() != requester:
        return THREAD_FROM_OTHER_SENDER
    if dmarc is Dmarc.FAIL:
        return SENDER_FAILED_AUTHENTICATION
    if any(other.email.lower() != requester for other in mail.reply_to):
        return REPLY_TO_ELSEWHERE
    return None


def is_noreply(address: Address | None, patterns: Iterable[str]) -> bool:
    """True for a no-reply or web-form sender (its local part contains one of the patterns)."""
    if address is None:
        return True
    local = address.email.partition("@")[0].lower()
    return any(p and p.lower() in local for p in patterns)


@dataclass(frozen=True)
class Requester:
    """Who a new request is from, and whether the address came from Reply-To."""

    address: Address | None
    from_reply_to: bool


def requester_of(mail: ParsedMail, noreply_patterns: Iterable[str]) -> Requester:
    """The address a new request is acknowledged at: From, or Reply-To only for a no-reply From.

    A letter sent to a Reply-To address quotes nothing the sender wrote (see `acks`): anyone can
    name any address there, and our own domain would carry their words to it.
    """
    patterns = tuple(noreply_patterns)
    if mail.from_addr is not None and not is_noreply(mail.from_addr, patterns):
        return Requester(mail.from_addr, from_reply_to=False)
    if mail.reply_to:
        return Requester(Address("", mail.reply_to[0].email), from_reply_to=True)
    return Requester(mail.from_addr, from_reply_to=False)


__all__ = [
    "ACTING_KINDS", "AUTH_RESULTS", "EXCHANGE_AUTH_AS", "FLAG_TEXT",
    "REPLY_TO_ELSEWHERE", "SENDER_FAILED_AUTHENTICATION", "THREAD_FROM_OTHER_SENDER",
    "Dmarc", "Requester", "Standing", "TrustPolicy",
    "authserv_id", "dmarc_verdict", "is_noreply", "is_staff_address", "requester_of",
    "sender_check", "standing", "unvouched_reason",
]
