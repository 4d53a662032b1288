"""parsing.parse on real .eml files: headers, bodies, new text, attachments and broken mail."""

from __future__ import annotations

import base64
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from foi_mailbot.parsing import parse
from foi_mailbot.parsing.body import base64_size, new_text
from foi_mailbot.parsing.headers import message_ids, normalise_message_id, strip_header_text
from foi_mailbot.parsing.parsed import Address, ParsedMail

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def load(name: str) -> ParsedMail:
    return parse((FIXTURES / name).read_bytes())


# Headers and addresses


def test_encoded_display_name_is_decoded_and_address_lower_cased() -> None:
    """An RFC 2047 name comes out as text; the address is lower-cased."""
    mail = load("new_request_rfc2047_name.eml")

    assert Address("Zoë Ní Bhriain", "zoe.nibhriain@protonmail.com") == mail.from_addr
    assert "Home–to–school transport contracts" == mail.subject


def test_latin1_encoded_words_in_name_and_subject_are_decoded() -> None:
    """ISO-8859-1 encoded words decode, including a subject mixing plain and encoded text."""
    mail = load("new_request_latin1_body.eml")

    assert "François Lefèvre" == mail.from_addr.name if mail.from_addr else None
    assert "Licensing of the café on Market Square" == mail.subject
    assert "café at 4 Market Square" in mail.text


def test_message_id_loses_brackets_and_whitespace() -> None:
    """Message-IDs are stored without angle brackets or spaces."""
    mail = load("new_request_plain_foia.eml")

    assert "CAF3xK9q2mR7tPz4nW1vYbQeLd8sHj0uT5cA6gN3oX2iE7fZ4kw@mail.gmail.com" == mail.message_id
    assert "abc@x.org" == normalise_message_id("  < abc@x.org >\r\n")
    assert normalise_message_id("<>") is None


def test_in_reply_to_and_references_give_thread_ids_nearest_first() -> None:
    """In-Reply-To comes first, then References from the newest back."""
    mail = load("clarification_wdtk_reply.eml")

    assert (
        "clarify-IC-000123-G7H8.20260112140200@example.gov.uk",
        "ack-IC-000123-G7H8.20260105101500@example.gov.uk",
    ) == mail.thread_ids


def test_message_ids_without_brackets_are_still_found() -> None:
    """Clients that drop the angle brackets still yield ids; junk without @ is ignored."""
    assert ("a@b", "c@d") == message_ids("a@b, c@d")
    assert () == message_ids("not-an-id, also not one")


def test_date_is_aware_utc() -> None:
    """The Date header becomes an aware UTC datetime."""
    mail = load("new_request_latin1_body.eml")

    assert datetime(2026, 1, 18, 15, 40, 12, tzinfo=UTC) == mail.date


def test_headers_map_is_lower_cased_first_value_decoded() -> None:
    """The headers map has lower-cased names and clean first values for the loop guards."""
    mail = load("auto_reply_outlook_ooo.eml")

    assert "auto-generated" == mail.header("Auto-Submitted")
    assert "All" == mail.headers["x-auto-response-suppress"]
    assert "" == mail.header("list-id")


def test_strip_header_text_removes_line_breaks_and_control_characters() -> None:
    """CR, LF, NUL, tabs and Unicode line separators cannot survive into a header value."""
    assert "Subject Bcc: x@y" == strip_header_text("Subject\r\nBcc: x@y")
    assert "a b c d" == strip_header_text("a\x00 b\t\tc\u2028d")
    assert "Siân Owen" == strip_header_text("  Siân \n Owen ")


# Bodies and new text


def test_html_only_mail_is_converted_with_links_kept() -> None:
    """An HTML-only body becomes text, and its links survive."""
    mail = load("new_request_html_only.eml")

    assert "number of visits to each of the council's libraries" in mail.text
    assert "https://www.example.gov.uk/libraries/statistics" in mail.text
    assert "<div" not in mail.text


def test_new_text_drops_gmail_quote_of_our_acknowledgement() -> None:
    """Quoted history after "On ... wrote:" is not new text."""
    mail = load("clarification_reply_quoting_ack.eml")

    assert "ask for an internal review" in mail.text
    assert "internal review" not in mail.new_text
    assert mail.new_text.startswith("Thanks for the acknowledgement.")


def test_new_text_drops_outlook_html_reply_header_and_history() -> None:
    """Outlook's From:/Sent: block in an HTML reply ends the new text."""
    mail = load("clarification_outlook_html_reply.eml")

    assert "Housing directorate only" in mail.new_text
    assert "internal review" not in mail.new_text


def test_new_text_drops_original_message_block_and_signature() -> None:
    """"-----Original Message-----" and the closing "Yours sincerely" block are cut."""
    mail = load("clarification_wdtk_reply.eml")

    assert mail.new_text.endswith("please include notices issued by CCTV camera.")


def test_new_text_drops_whatdotheyknow_footer() -> None:
    """The WhatDoTheyKnow footer below the dashes is not part of the request."""
    mail = load("new_request_wdtk.eml")

    assert "Please use this email address" in mail.text
    assert "Please use this email address" not in mail.new_text
    assert "penalty charge notices" in mail.new_text


def test_new_text_keeps_answers_between_quoted_questions() -> None:
    """Interleaved replies keep the answers and drop the quoted lines."""
    mail = load("clarification_interleaved_answers.eml")

    assert "Only maintained schools." in mail.new_text
    assert "Do you mean all schools" not in mail.new_text


def test_new_text_keeps_a_date_range_that_looks_like_headers() -> None:
    """"From: January 2020 / To: March 2021" in a request is not a quoted reply header."""
    body = "Please send the figures for this period:\nFrom: January 2020\nTo: March 2021\n"

    assert "To: March 2021" in new_text(body)


def test_new_text_keeps_a_sentence_starting_with_thanks() -> None:
    """Only a bare sign-off line starts a signature, not "Thanks, I meant ..."."""
    body = "Hi,\n\nThanks, I meant 2023 only.\n\nKind regards\nJo\n"

    assert "Hi,\n\nThanks, I meant 2023 only." == new_text(body)


def test_new_text_of_a_bare_forward_is_empty() -> None:
    """A message that is only a forwarded copy has no new text."""
    body = "From: Jane <jane@example.org>\nSent: Monday\nTo: foi\nSubject: x\n\nold text\n"

    assert "" == new_text(body)


def test_new_text_drops_sent_from_my_phone() -> None:
    """A "Sent from my iPhone" line is not part of what the applicant wrote."""
    mail = load("clarification_sent_from_iphone.eml")

    assert "Yes, 2024/25 only." == mail.new_text


# Attachments


def test_attachment_size_is_the_decoded_size() -> None:
    """The size of a base64 attachment is its decoded size, without its content."""
    raw = (FIXTURES / "new_request_with_attachment_pdf.eml").read_bytes()
    encoded = raw.split(b"base64\n\n", 1)[1].split(b"\n\n--", 1)[0]
    mail = parse(raw)

    assert 1 == len(mail.attachments)
    assert "FOI request - former gasworks.pdf" == mail.attachments[0].filename
    assert "application/pdf" == mail.attachments[0].content_type
    assert len(base64.b64decode(encoded)) == mail.attachments[0].size


def test_base64_size_estimate_matches_decoding() -> None:
    """The estimate from base64 length equals the decoded length, padding included."""
    for length in (0, 1, 2, 3, 4, 57, 58, 1000):
        data = os.urandom(length)

        assert length == base64_size(base64.encodebytes(data).decode())


def test_a_25_mb_attachment_is_parsed_and_sized_without_error() -> None:
    """A 25 MB attachment parses (built at run time, never stored as a fixture)."""
    payload = base64.encodebytes(os.urandom(25 * 1024 * 1024))
    raw = (
        b"From: Big Sender <big@example.org>\nTo: foi@example.gov.uk\nSubject: plans\n"
        b"Message-ID: <big-1@example.org>\nDate: Mon, 5 Jan 2026 10:00:00 +0000\n"
        b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XX\n\n"
        b"--XX\nContent-Type: text/plain\n\nPlease see the attached plans.\n"
        b"--XX\nContent-Type: application/pdf; name=plans.pdf\n"
        b"Content-Disposition: attachment; filename=plans.pdf\n"
        b"Content-Transfer-Encoding: base64\n\n" + payload + b"\n--XX--\n"
    )

    mail = parse(raw)

    assert 25 * 1024 * 1024 == mail.attachments[0].size
    assert "Please see the attached plans." == mail.new_text
    assert () == mail.defects


# Broken mail never raises


def test_zero_bytes_parse_to_an_empty_message_with_defects() -> None:
    """An empty file is a message with nothing in it, not an error."""
    mail = load("malformed_empty.eml")

    assert ("empty_message", "no_message_id", "no_date", "no_from") == mail.defects
    assert mail.from_addr is None


def test_unknown_charsets_are_recorded_and_text_kept() -> None:
    """Unknown charsets in headers and body are defects; the text is still readable."""
    mail = load("malformed_unknown_charset.eml")

    assert "bad_charset: x-unknown (from)" in mail.defects
    assert "bad_charset: x-mac-klingon (subject)" in mail.defects
    assert "Request for information" == mail.subject
    assert "council's budget for 2026/27" in mail.text


def test_8bit_headers_are_decoded_as_latin1_and_recorded() -> None:
    """Raw Latin-1 bytes in headers become text, and each header is named in the defects."""
    mail = load("malformed_8bit_headers.eml")

    assert "8bit_header: from" in mail.defects
    assert "8bit_header: subject" in mail.defects
    assert "Demande d'information été 2025 - cafÃ© licences" == mail.subject
    assert "f.lefevre@orange.fr" == (mail.from_addr.email if mail.from_addr else None)


def test_broken_base64_is_recorded() -> None:
    """Invalid base64 in a text part is a defect; what decodes is kept."""
    mail = load("malformed_broken_base64.eml")

    assert any(d.startswith("bad_base64:") for d in mail.defects)
    assert "attached request for information" in mail.text


def test_missing_message_id_and_date_are_recorded() -> None:
    """A message without Message-ID or Date says so in its defects."""
    assert "no_message_id" in load("malformed_no_message_id.eml").defects
    assert "no_date" in load("malformed_no_date.eml").defects


def test_control_characters_never_reach_subject_or_text() -> None:
    """NUL, CR and other control bytes are removed from the subject and the body."""
    mail = load("malformed_nul_bytes_and_bad_date.eml")

    assert "control characters in the subject" == mail.subject
    assert not re.search(r"[\x00-\x08\x0b-\x1f]", mail.text)
    assert "bad_date" in mail.defects


def test_garbage_addresses_leave_what_can_be_read() -> None:
    """Unreadable From is a defect; a readable To address is still found."""
    mail = load("malformed_garbage_addresses.eml")

    assert "foi@example.gov.uk" in {a.email for a in mail.to}
    assert "garbage-addresses@example.net" == mail.message_id
    assert "road closures" in mail.new_text


def test_header_only_message_parses() -> None:
    """A message that stops after its headers still has its subject and sender."""
    mail = load("malformed_header_only.eml")

    assert "nothing follows" == mail.subject
    assert "" == mail.text


def test_mailparser_failure_falls_back_to_the_stdlib_parser() -> None:
    """A sender name mail-parser chokes on is read by the stdlib parser, body and all."""
    raw = (FIXTURES / "malformed_bad_encoded_word_sender.eml").read_bytes()
    encoded = raw.split(b"base64\n\n", 1)[1].split(b"\n\n--", 1)[0]
    mail = parse(raw)

    assert ("parse_error: mail-parser HeaderParseError",) == mail.defects
    assert "sian.pritchard@gmail.com" == (mail.from_addr.email if mail.from_addr else None)
    assert mail.new_text.startswith("Please provide the inspection reports")
    assert "broken swing.jpg" == mail.attachments[0].filename
    assert len(base64.b64decode(encoded)) == mail.attachments[0].size


def test_deeply_nested_multipart_falls_back_to_headers_only() -> None:
    """Thousands of nested multiparts are not parsed (quadratic); the headers still are."""
    body = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i) for i in range(3000)
    )
    raw = b"From: a@example.org\nSubject: nested\nMessage-ID: <n@example.org>\n" + body

    mail = parse(raw)

    assert "nested" == mail.subject
    assert "too_many_parts" in mail.defects


def test_deeply_nested_attached_messages_fall_back_to_the_stdlib_then_headers() -> None:
    """When mail-parser and the stdlib both give up, the header block is still read."""
    body = b"".join(b"Content-Type: message/rfc822\n\nSubject: level %d\n" % i for i in range(3000))
    raw = b"From: a@example.org\nSubject: nested\nMessage-ID: <m@example.org>\n" + body

    mail = parse(raw)

    assert "nested" == mail.subject
    assert "parse_error: mail-parser MailParserRecursionError" in mail.defects
    assert "body_not_parsed" in mail.defects


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.eml")), ids=lambda p: p.name)
def test_every_fixture_parses_into_clean_header_values(path: Path) -> None:
    """No fixture raises, and no header value keeps a CR or LF."""
    mail = parse(path.read_bytes())

    assert all("\n" not in v and "\r" not in v for v in mail.headers.values())
    assert "\n" not in mail.subject
