"""Large attachments set aside before parsing: the parser reads a stand-in, the result is the same."""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import foi_mailbot.parsing
from foi_mailbot.parsing import parse
from foi_mailbot.parsing.body import base64_size
from foi_mailbot.parsing.parsed import ParsedMail
from foi_mailbot.parsing.set_aside import SET_ASIDE_FROM, Slimmed, set_aside

HEAD = (
    b"From: Ann Example <ann@example.org>\nTo: foi@example.gov.uk\nSubject: plans\n"
    b"Message-ID: <plans-1@example.org>\nDate: Mon, 5 Jan 2026 10:00:00 +0000\n"
    b"MIME-Version: 1.0\n"
)
TEXT_PART = b"--XX\nContent-Type: text/plain\n\nPlease see the attached plans.\n"


def _base64(size: int, seed: int = 1) -> bytes:
    return base64.encodebytes(random.Random(seed).randbytes(size))


def _attachment(headers: bytes, body: bytes) -> bytes:
    return b"--XX\n" + headers + b"Content-Transfer-Encoding: base64\n\n" + body


def _multipart(*parts: bytes, end: bytes = b"\n--XX--\n") -> bytes:
    return HEAD + b"Content-Type: multipart/mixed; boundary=XX\n\n" + b"\n".join(parts) + end


def _parsed_in_place(raw: bytes) -> ParsedMail:
    """What `parse` gave before anything was set aside."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(foi_mailbot.parsing, "set_aside", lambda raw: Slimmed(raw, len(raw)))
        return parse(raw)


PDF = b"Content-Type: application/pdf\nContent-Disposition: attachment; filename=plans.pdf\n"
SHAPES = {
    "named attachment": _multipart(TEXT_PART, _attachment(PDF, _base64(300_000))),
    "two attachments": _multipart(
        TEXT_PART, _attachment(PDF, _base64(200_000)),
        _attachment(b"Content-Type: image/png; name=map.png\n", _base64(150_001, 2)),
    ),
    "CRLF line endings": _multipart(TEXT_PART, _attachment(PDF, _base64(90_002))).replace(
        b"\n", b"\r\n"
    ),
    "no closing boundary": _multipart(TEXT_PART, _attachment(PDF, _base64(100_000)), end=b""),
    "twelve attachments in an attached container": _multipart(
        TEXT_PART,
        b"--XX\nContent-Type: multipart/mixed; boundary=YY\n"
        b"Content-Disposition: attachment; filename=bundle\n\n"
        + b"".join(b"--YY\n" + PDF + b"Content-Transfer-Encoding: base64\n\n"
                   + _base64(70_000 + n, n) + b"\n" for n in range(12))
        + b"--YY--\n",
    ),
    "RFC 2231 name": _multipart(
        TEXT_PART,
        _attachment(b"Content-Type: application/pdf\nContent-Disposition: attachment;\n"
                    b" filename*=utf-8''caf%C3%A9.pdf\n", _base64(120_000)),
    ),
    "inline image by Content-ID": _multipart(
        TEXT_PART, _attachment(b"Content-Type: image/jpeg\nContent-ID: <img1@x>\n", _base64(99_999))
    ),
    "spreadsheet as text/csv": _multipart(
        TEXT_PART, _attachment(b"Content-Type: text/csv; name=data.csv\n", _base64(80_000))
    ),
    "read by the stdlib when mail-parser fails": _multipart(
        TEXT_PART, _attachment(PDF, _base64(100_000)),
    ).replace(b"From: Ann Example", b"From: =?UTF-8?B?U2nDom4gUHJpdGNoYXJka?="),
    "a single-part attachment": HEAD + b"Content-Type: application/zip; name=all.zip\n"
    b"Content-Transfer-Encoding: base64\n\n" + _base64(500_000),
    "inside an attached container": _multipart(
        TEXT_PART,
        b"--XX\nContent-Type: multipart/mixed; boundary=YY\n"
        b"Content-Disposition: attachment; filename=bundle\n\n"
        b"--YY\n" + PDF + b"Content-Transfer-Encoding: base64\n\n" + _base64(70_000)
        + b"\n--YY--\n",
    ),
}


@pytest.mark.parametrize("raw", SHAPES.values(), ids=SHAPES.keys())
def test_a_large_attachment_is_parsed_from_a_stand_in_with_the_same_result(raw: bytes) -> None:
    """Names, types, sizes, text and defects are exactly what parsing the whole message gave."""
    slimmed = set_aside(raw)

    assert slimmed.aside
    assert len(slimmed.raw) < 4_000  # the parser never sees the attachment's bytes
    assert _parsed_in_place(raw) == parse(raw)
    assert len(raw) == parse(raw).size


def test_the_set_aside_size_is_the_decoded_size() -> None:
    """The stand-in carries the size the base64 decodes to."""
    mail = parse(SHAPES["two attachments"])

    assert [200_000, 150_001] == [a.size for a in mail.attachments]
    assert ["plans.pdf", "map.png"] == [a.filename for a in mail.attachments]


def _in_place(raw: bytes) -> None:
    assert not set_aside(raw).aside
    assert _parsed_in_place(raw) == parse(raw)


def test_body_text_in_base64_is_never_set_aside() -> None:
    """A long plain-text or HTML body sent as base64 is read as the message's text."""
    letter = base64.encodebytes(b"I request the minutes of every meeting. " * 4_000)

    _in_place(_multipart(_attachment(b"Content-Type: text/plain\n", letter)))
    _in_place(_multipart(TEXT_PART, _attachment(
        b"Content-Type: text/html\nContent-Disposition: inline; filename=letter.html\n", letter
    )))
    assert parse(_multipart(_attachment(b"Content-Type: text/plain\n", letter))).new_text


def test_bodies_that_are_not_clean_base64_are_parsed_in_place() -> None:
    """Stray characters, a small body or another encoding: the message is parsed as it came."""
    body = _base64(100_000)

    _in_place(_multipart(TEXT_PART, _attachment(PDF, body[:5000] + b"not base64!\n" + body)))
    _in_place(_multipart(TEXT_PART, _attachment(PDF, _base64(SET_ASIDE_FROM // 2))))
    _in_place(_multipart(TEXT_PART, b"--XX\n" + PDF + b"Content-Transfer-Encoding: "
                         b"quoted-printable\n\n" + b"A=3D" * 40_000))
    _in_place(_multipart(TEXT_PART, _attachment(b"Content-Type: application/octet-stream\n",
                                                body)))


def test_a_message_containing_the_stand_in_is_parsed_in_place() -> None:
    """A sender cannot make one attachment answer for another by writing the stand-in."""
    raw = _multipart(TEXT_PART, _attachment(PDF, b"FoiMailbotSetAside0\n"),
                     _attachment(PDF, _base64(100_000)))

    _in_place(raw)
    assert [base64_size("FoiMailbotSetAside0"), 100_000] == [
        a.size for a in parse(raw).attachments
    ]


def test_only_the_first_200_encoding_declarations_are_looked_at() -> None:
    """Mail declaring thousands of parts costs a bounded look; what is past it is parsed whole."""
    small = [_attachment(PDF, _base64(10, n)) for n in range(250)]
    raw = _multipart(TEXT_PART, *small, _attachment(PDF, _base64(100_000)))

    _in_place(raw)


def _random_parts(draw: st.DrawFn) -> Iterator[bytes]:
    for index in range(draw(st.integers(1, 3))):
        size = draw(st.sampled_from([10, 50_000, SET_ASIDE_FROM, 70_000, 123_457]))
        kind = draw(st.sampled_from([PDF, b"Content-Type: text/plain\n",
                                     b"Content-Type: image/gif; name=\"a b.gif\"\n"]))
        body = _base64(size, index)
        if draw(st.booleans()):
            body = body.replace(b"\n", b"")  # one long line
        yield _attachment(kind, body.rstrip(b"\n") + draw(st.sampled_from([b"", b"\n", b"\n\n"])))


@given(st.data())
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_mix_of_parts_parses_the_same_with_bodies_set_aside(data: st.DataObject) -> None:
    """Sizes, line shapes and part kinds drawn at random: the result never changes."""
    parts = list(_random_parts(data.draw))
    raw = _multipart(TEXT_PART, *parts, end=data.draw(st.sampled_from([b"\n--XX--\n", b""])))
    if data.draw(st.booleans()):
        raw = raw.replace(b"\n", b"\r\n")

    assert _parsed_in_place(raw) == parse(raw)
