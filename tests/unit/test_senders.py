"""Who is staff and which authentication header is believed: the pure rules."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from foi_mailbot.cases.senders import (
    Dmarc,
    Standing,
    TrustPolicy,
    authserv_id,
    dmarc_verdict,
    is_staff_address,
    requester_of,
    sender_check,
    standing,
)
from foi_mailbot.parsing import parse
from foi_mailbot.parsing.parsed import Address, ParsedMail

FIXTURES = Path(__file__).parents[1] / "fixtures" / "trust"
POLICY = TrustPolicy.of(["clerk@partner.example"], ["example.gov.uk."], "MX1.example.gov.uk")
NOREPLY = ("noreply", "no-reply")


def _load(name: str) -> ParsedMail:
    return parse((FIXTURES / name).read_bytes())


@pytest.mark.parametrize(("email", "staff"), [
    ("jane@example.gov.uk", True),
    ("JANE@Example.gov.uk", True),
    ("clerk@partner.example", True),
    ("jane@planning.example.gov.uk", False),  # a subdomain only when listed
    ("jane@notexample.gov.uk", False),
    ("jane@example.gov.uk.evil.test", False),
    ("not-an-address", False),
])
def test_staff_is_the_list_or_a_staff_domain_exactly(email: str, staff: bool) -> None:
    """Listed addresses and exact staff domains are staff; subdomains and lookalikes are not."""
    assert staff == is_staff_address(Address("", email.lower()), POLICY)


def test_no_from_is_never_staff() -> None:
    """Mail with no usable From is never staff."""
    assert not is_staff_address(None, POLICY)


def test_authserv_id_is_read_before_the_first_semicolon_without_comments() -> None:
    """The id opens the header (comments and version aside); Microsoft 365's has none."""
    assert "mx1.example.gov.uk" == authserv_id("MX1.example.gov.uk 1 (our mx); dmarc=pass")
    assert "mx.example" == authserv_id("mx.example; none")
    assert authserv_id("spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=x; dmarc=pass") is None


def test_only_the_topmost_header_with_our_id_is_believed() -> None:
    """Our server said fail; a pass with our id further down is the sender's own words."""
    mail = _load("staff_close_inbox_forged_pass_below.eml")
    assert 2 == len(mail.header_values("authentication-results"))
    assert Dmarc.FAIL == dmarc_verdict(mail, POLICY)


def test_a_pass_from_our_server_vouches_and_no_header_is_unauthenticated() -> None:
    """dmarc=pass by our id vouches; no header, or another server's id, is NONE, not FAIL."""
    vouched = _load("staff_close_inbox_dmarc_pass.eml")
    assert Dmarc.PASS == dmarc_verdict(vouched, POLICY)
    assert Dmarc.NONE == dmarc_verdict(_load("staff_close_inbox_unauthenticated.eml"), POLICY)
    other = TrustPolicy.of([], ["example.gov.uk"], "mx.elsewhere.example")
    assert Dmarc.NONE == dmarc_verdict(vouched, other)
    unset = TrustPolicy.of([], ["example.gov.uk"])
    assert Dmarc.NONE == dmarc_verdict(vouched, unset)


def test_a_pass_for_another_domain_does_not_vouch_for_our_from() -> None:
    """dmarc=pass header.from=evil.example says nothing about a From at example.gov.uk."""
    mail = _load("staff_close_inbox_dmarc_pass.eml")
    forged = replace(mail, repeated={"authentication-results": (
        "mx1.example.gov.uk; dmarc=pass header.from=evil.example",)})
    assert Dmarc.NONE == dmarc_verdict(forged, POLICY)


def test_exchange_internal_marker_counts_as_a_pass_only_when_enabled() -> None:
    """On Microsoft 365 the topmost AuthAs: Internal vouches; off by default."""
    mail = replace(_load("staff_close_inbox_unauthenticated.eml"),
                   repeated={"x-ms-exchange-organization-authas": ("Internal", "Anonymous")})
    assert Dmarc.NONE == dmarc_verdict(mail, POLICY)
    on = replace(POLICY, exchange_internal_marker=True)
    assert Dmarc.PASS == dmarc_verdict(mail, on)
    anonymous = replace(mail, repeated={"x-ms-exchange-organization-authas": ("Anonymous",)})
    assert Dmarc.NONE == dmarc_verdict(anonymous, on)


def test_standing_sent_folder_acts_inbox_needs_a_vouched_pass() -> None:
    """Sent-folder mail acts; inbox staff mail acts only with our server's pass."""
    unvouched = _load("staff_close_inbox_unauthenticated.eml")
    assert Standing.ACTS == standing(unvouched, POLICY, from_sent_folder=True)
    assert Standing.UNVOUCHED == standing(unvouched, POLICY, from_sent_folder=False)
    vouched = _load("staff_close_inbox_dmarc_pass.eml")
    assert Standing.ACTS == standing(vouched, POLICY, from_sent_folder=False)
    stranger = _load("stranger_reply_in_requester_thread.eml")
    assert Standing.NOT_STAFF == standing(stranger, POLICY, from_sent_folder=False)


def test_only_the_requester_acts_on_a_case() -> None:
    """A stranger, a failed DMARC, or a Reply-To elsewhere: flagged; the requester: None."""
    requester = "m.okafor@gmail.com"
    stranger = _load("stranger_reply_in_requester_thread.eml")
    assert "not_from_requester" == sender_check(stranger, requester, Dmarc.NONE)
    forged = _load("forged_requester_from_with_reply_to.eml")
    assert "reply_to_elsewhere" == sender_check(forged, requester, Dmarc.NONE)
    failed = _load("requester_dmarc_fail_trusted_header.eml")
    assert "sender_failed_authentication" == sender_check(failed, requester, Dmarc.FAIL)
    assert sender_check(failed, requester, Dmarc.NONE) is None  # no header: the address stands


def test_a_new_request_is_answered_at_from_unless_from_is_a_no_reply_sender() -> None:
    """Reply-To is used only for a no-reply From, and then without the name it gives."""
    someone_else = requester_of(_load("new_request_reply_to_someone_else.eml"), NOREPLY)
    assert someone_else.address is not None
    assert "x.h4ck@fastmail.com" == someone_else.address.email
    assert not someone_else.from_reply_to
    form = requester_of(_load("new_request_web_form_noreply_from.eml"), NOREPLY)
    assert Address("", "pat.victim@example.org") == form.address
    assert form.from_reply_to
