"""Composing outgoing mail: headers that cannot be injected, threading, RFC 3834 markers."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from hypothesis import given
from hypothesis import strategies as st

from foi_mailbot.errors import ConfigError, PermanentError
from foi_mailbot.outbound.compose import (
    MAX_SUBJECT,
    WIRE,
    compose,
    could_be_minted,
    mint_message_id,
    reply_subject,
    wire_bytes,
)
from foi_mailbot.parsing import parse
from foi_mailbot.parsing.parsed import Address

REF = "IC-000123-N1W5"
WHEN = datetime(2021, 6, 14, 9, 30, tzinfo=UTC)

# A request whose encoded subject and display name decode to CR/LF followed by a Bcc header.
HOSTILE_REQUEST = (
    b"From: =?utf-8?q?Eve=0D=0ABcc=3A_victim=40example=2Ecom?= <eve@example.org>\r\n"
    b"To: foi@example.gov.uk\r\n"
    b"Subject: =?utf-8?q?Budget=0D=0ABcc=3A_victim=40example=2Ecom=0D=0A=0D=0Abody?=\r\n"
    b"Message-ID: <hostile-1@example.org>\r\n"
    b"Date: Mon, 14 Jun 2021 08:00:00 +0100\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Please send me the budget.\r\n"
)


def _compose(**overrides: object) -> EmailMessage:
    values: dict[str, object] = {
        "from_addr": "foi@example.gov.uk",
        "from_name": "Example Council",
        "to": Address(name="J Roberts", email="applicant@example.org"),
        "subject": f"[{REF}] Secondment offer",
        "text": "Thank you for your request.\n",
        "html": None,
        "message_id": "ack-1@example.gov.uk",
        "in_reply_to": "request-1@mail.example.org",
        "references": [],
        "date": WHEN,
    }
    values.update(overrides)
    return compose(**values)  # type: ignore[arg-type]


def _reparsed(message: EmailMessage) -> EmailMessage:
    parsed = message_from_bytes(message.as_bytes(), _class=EmailMessage, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_crlf_in_subject_and_display_name_adds_no_header() -> None:
    """CR/LF in a subject or a display name is flattened; no Bcc or other header appears."""
    message = _compose(
        subject="Budget\r\nBcc: victim@example.com\r\n\r\nbody",
        to=Address(name="Eve\nBcc: victim@example.com", email="eve@example.org"),
        from_name="Example Council\r\nX-Injected: yes",
    )

    received = _reparsed(message)
    assert received["Bcc"] is None
    assert received["X-Injected"] is None
    assert "Budget Bcc: victim@example.com body" == received["Subject"]
    assert ["eve@example.org"] == [a.addr_spec for a in received["To"].addresses]


def test_encoded_crlf_in_a_request_cannot_reach_our_reply_headers() -> None:
    """A request whose RFC 2047 words hide CR/LF gets a reply with only our own headers."""
    request = parse(HOSTILE_REQUEST)
    assert request.from_addr is not None

    reply = _reparsed(
        _compose(
            to=request.from_addr,
            subject=reply_subject(REF, request.subject),
            in_reply_to=request.message_id,
        )
    )

    assert reply["Bcc"] is None
    assert ["eve@example.org"] == [a.addr_spec for a in reply["To"].addresses]
    assert reply["Subject"].startswith(f"[{REF}] Budget")
    assert "<hostile-1@example.org>" == reply["In-Reply-To"]


def test_automatic_replies_carry_the_rfc_3834_markers() -> None:
    """Auto-Submitted, X-Auto-Response-Suppress and Precedence stop other robots answering."""
    received = _reparsed(_compose())

    assert "auto-replied" == received["Auto-Submitted"]
    assert "All" == received["X-Auto-Response-Suppress"]
    assert "auto_reply" == received["Precedence"]


def test_messages_written_by_staff_are_not_marked_automatic() -> None:
    """With automatic=False none of the auto-reply headers is set."""
    received = _reparsed(_compose(automatic=False))

    assert (None, None, None) == (
        received["Auto-Submitted"],
        received["X-Auto-Response-Suppress"],
        received["Precedence"],
    )


def test_reply_threads_to_the_requesters_message() -> None:
    """In-Reply-To names the parent; References keeps the thread with the parent last, once."""
    received = _reparsed(
        _compose(
            in_reply_to="<parent@mail.example.org>",
            references=["<root@mail.example.org>", "parent@mail.example.org", "mid@x.org"],
        )
    )

    assert "<parent@mail.example.org>" == received["In-Reply-To"]
    assert "<root@mail.example.org> <mid@x.org> <parent@mail.example.org>" == received["References"]
    assert "<ack-1@example.gov.uk>" == received["Message-ID"]


def test_a_long_reference_chain_keeps_its_root_and_newest_ids() -> None:
    """References is trimmed to 20 ids: the thread root plus the most recent ones."""
    chain = [f"m{i}@x.org" for i in range(40)]

    ids = _reparsed(_compose(references=chain, in_reply_to="m39@x.org"))["References"].split()

    assert 20 == len(ids)
    assert "<m0@x.org>" == ids[0]
    assert "<m39@x.org>" == ids[-1]


def test_a_message_without_a_parent_has_no_threading_headers() -> None:
    """A message that starts a conversation has neither In-Reply-To nor References."""
    received = _reparsed(_compose(in_reply_to=None))

    assert (None, None) == (received["In-Reply-To"], received["References"])


def test_html_makes_a_multipart_alternative_with_text_first() -> None:
    """With an HTML body the message offers plain text first, then HTML."""
    received = _reparsed(_compose(html="<p>Thank you</p>\n"))

    assert "multipart/alternative" == received.get_content_type()
    parts = [p.get_content_type() for p in received.iter_parts()]
    assert ["text/plain", "text/html"] == parts


def test_text_that_looks_like_a_part_boundary_cannot_end_a_part() -> None:
    """A body may hold any line, even one shaped like a boundary ("--=_" and hex): both parts
    come back whole, with the line in them as written."""
    boundary_like = "--=_" + "0" * 32
    text = f"Your words, quoted:\n{boundary_like}\n{boundary_like}--\nEnd.\n"
    received = _reparsed(_compose(text=text, html=f"<p>{boundary_like}</p>\n"))

    plain, html = received.iter_parts()
    assert text == plain.get_content()
    assert f"<p>{boundary_like}</p>\n" == html.get_content()


def test_non_ascii_names_and_subjects_survive_the_round_trip() -> None:
    """Accented names and subjects are encoded on the wire and read back intact."""
    received = _reparsed(
        _compose(
            subject=f"[{REF}] Café licences – 2021",
            to=Address(name="Zoë Ní Bhriain", email="zoe@example.ie"),
            text="Dear Zoë,\n",
        )
    )

    assert f"[{REF}] Café licences – 2021" == received["Subject"]
    assert "Zoë Ní Bhriain" == received["To"].addresses[0].display_name
    assert received.as_bytes().isascii()
    body = received.get_body(("plain",))
    assert body is not None
    assert "Dear Zoë," == body.get_content().rstrip()


def test_long_non_ascii_headers_are_folded_into_short_lines() -> None:
    """A long accented subject is folded into lines of 78 at most; it and a long name read back
    whole."""
    subject = f"[{REF}] Ceisteanna faoi bhuiséad na comhairle — Zoë Ní Bhriain " * 3
    name = "Zoë Ní Bhriain-Ó Súilleabháin, Oifig an Chláraitheora " * 2
    message = _compose(subject=subject, to=Address(name=name, email="zoe@example.ie"))

    wire = message.as_bytes(policy=WIRE)
    received = _reparsed(message)

    subject_lines = wire.split(b"\r\nDate:")[0].split(b"Subject:")[1].split(b"\r\n")
    assert len(subject_lines) > 1
    assert max(len(line) for line in [b"Subject:" + subject_lines[0], *subject_lines[1:]]) <= 78
    assert " ".join(subject.split()) == received["Subject"]
    assert name.strip() == received["To"].addresses[0].display_name


def test_date_header_is_the_given_instant() -> None:
    """The Date header is the composed instant, in UTC."""
    received = _reparsed(_compose())

    assert WHEN == received["Date"].datetime


def test_an_unusable_recipient_address_is_a_permanent_error() -> None:
    """A recipient that is not an address cannot be sent to by retrying."""
    with pytest.raises(PermanentError, match="recipient"):
        _compose(to=Address(name="", email="not an address"))


def test_minted_message_ids_are_unique_and_bare() -> None:
    """Message-IDs are uuid-based, carry our domain and have no angle brackets."""
    ids = {mint_message_id("Example.GOV.uk") for _ in range(100)}

    assert 100 == len(ids)
    assert all(i.endswith("@example.gov.uk") and "<" not in i for i in ids)


@pytest.mark.parametrize("other", [
    "ack-IC-000189-P4F1.20260122111102@example.gov.uk",  # shaped like ours, not minted
    "CAF=abc123@mail.gmail.com",
    "3F2A" + "0" * 28 + "@example.gov.uk",  # upper case: a uuid's hex is lower
    "0" * 31 + "@example.gov.uk",
    "0" * 33 + "@example.gov.uk",
    "",
])
def test_only_message_ids_of_the_minted_shape_could_be_ours(other: str) -> None:
    """Every id we mint, for any domain, could be ours; anything else cannot."""
    assert all(could_be_minted(mint_message_id(d)) for d in ("example.gov.uk", "x.org") * 50)
    assert not could_be_minted(other)


def test_a_domain_that_cannot_end_a_message_id_is_a_config_error() -> None:
    """A malformed domain is reported rather than minted into broken headers."""
    with pytest.raises(ConfigError):
        mint_message_id("example.gov.uk>\r\nBcc: x")


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("Secondment offer", f"[{REF}] Secondment offer"),
        ("Re: Secondment offer", f"[{REF}] Re: Secondment offer"),
        ("RE: Re: AW: Secondment offer", f"[{REF}] Re: Secondment offer"),
        (f"Re: [{REF}] Secondment offer", f"[{REF}] Re: Secondment offer"),
        (f"[{REF.lower()}] Secondment offer", f"[{REF}] Secondment offer"),
        (f"[{REF}] Re: [{REF}] offer", f"[{REF}] Re: offer"),
        ("Budget\r\nBcc: x@example.com\x00\x07", f"[{REF}] Budget Bcc: x@example.com"),
        ("Fwd: Budget", f"[{REF}] Fwd: Budget"),
        ("", f"[{REF}]"),
        ("   ", f"[{REF}]"),
    ],
)
def test_reply_subject_prefixes_the_reference_once(original: str, expected: str) -> None:
    """The reference leads the subject; existing tags and reply markers are not doubled."""
    assert expected == reply_subject(REF, original)


def test_reply_subject_is_capped() -> None:
    """A very long subject is cut to 200 characters and marked as cut."""
    subject = reply_subject(REF, "word " * 200)

    assert MAX_SUBJECT == len(subject)
    assert subject.endswith("…")


@given(st.text(max_size=400))
def test_reply_subject_is_always_one_clean_capped_line(original: str) -> None:
    """Whatever the applicant wrote, the subject is one line, capped, tagged and stable."""
    subject = reply_subject(REF, original)

    assert subject.startswith(f"[{REF}]")
    assert len(subject) <= MAX_SUBJECT
    assert 1 == len(subject.splitlines())
    assert not any(unicodedata.category(ch) == "Cc" for ch in subject)
    assert subject == reply_subject(REF, subject)


@given(
    name=st.text(max_size=60),
    subject=st.text(max_size=250),
    text=st.text(max_size=600),
    html=st.none() | st.text(max_size=300),
    references=st.lists(st.from_regex(r"[a-z0-9.]{1,40}@[a-z]{1,20}\.org", fullmatch=True),
                        max_size=25),
)
def test_the_bytes_we_write_end_every_line_in_crlf_within_the_line_limit(
    name: str, subject: str, text: str, html: str | None, references: list[str]
) -> None:
    """Whatever the headers and parts, the stored bytes are CRLF lines of at most 998 octets
    (RFC 5322 2.1.1) and read back as the message that was built."""
    message = _compose(to=Address(name=name, email="applicant@example.org"), subject=subject,
                       text=text, html=html, references=references)

    wire = wire_bytes(message)

    lines = wire.split(b"\r\n")
    assert not any(b"\r" in line or b"\n" in line for line in lines)
    assert all(len(line) <= 998 for line in lines)
    parsed = message_from_bytes(wire, _class=EmailMessage, policy=policy.default)
    assert parsed["Message-ID"] == message["Message-ID"]
    assert "applicant@example.org" == parsed["To"].addresses[0].addr_spec
